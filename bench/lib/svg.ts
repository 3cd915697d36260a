/** A horizontal grouped bar chart as an SVG document: one group per label, one bar per series. */
export function barChart(
  title: string,
  labels: readonly string[],
  series: ReadonlyArray<{ name: string; color: string; values: readonly number[] }>,
  unit: string,
): string {
  const barHeight = 16;
  const groupGap = 14;
  const longest = Math.max(...labels.map((l) => l.length));
  const left = 20 + Math.ceil(longest * 6.6);
  const width = left + 620;
  const plot = width - left - 90;
  const top = 50;
  const max = Math.max(1, ...series.flatMap((s) => s.values));
  const groupHeight = series.length * barHeight + groupGap;
  const height = top + labels.length * groupHeight + 40;
  const esc = (text: string): string => text.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${width / 2}" y="24" text-anchor="middle" font-size="15">${esc(title)}</text>`,
  ];
  let legendX = left;
  for (const s of series) {
    parts.push(
      `<rect x="${legendX}" y="32" width="12" height="12" fill="${s.color}"/>`,
      `<text x="${legendX + 18}" y="42">${esc(s.name)}</text>`,
    );
    legendX += 18 + Math.ceil(s.name.length * 6.6) + 24;
  }
  labels.forEach((label, g) => {
    const y0 = top + g * groupHeight;
    parts.push(
      `<text x="${left - 8}" y="${y0 + (series.length * barHeight) / 2 + 4}" text-anchor="end">${esc(label)}</text>`,
    );
    series.forEach((s, i) => {
      const value = s.values[g] ?? 0;
      const w = (value / max) * plot;
      const y = y0 + i * barHeight;
      parts.push(
        `<rect x="${left}" y="${y}" width="${w.toFixed(1)}" height="${barHeight - 3}" fill="${s.color}"/>`,
        `<text x="${(left + w + 4).toFixed(1)}" y="${y + barHeight - 6}">${Math.round(value).toLocaleString('en-US')} ${esc(unit)}</text>`,
      );
    });
  });
  parts.push('</svg>');
  return parts.join('\n');
}
