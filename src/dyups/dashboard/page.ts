import { readFileSync } from 'node:fs';

/** A file of the page, with the type it is served as. */
export interface PageFile {
  type: string;
  body: Buffer;
}

/** The page's folder, shipped in the package beside dist/ (dist/src/dyups/dashboard/page.js -> ../../../../dashboard/). */
const PAGE_FOLDER = new URL('../../../../dashboard/', import.meta.url);

const FILES: Record<string, string> = {
  'index.html': 'text/html; charset=utf-8',
  'dashboard.js': 'text/javascript; charset=utf-8',
  'dashboard.css': 'text/css; charset=utf-8',
};

/** The page's files by name, read once: plain HTML, JavaScript and CSS, no build step. */
export function loadPage(): Map<string, PageFile> {
  const files = new Map<string, PageFile>();
  for (const [name, type] of Object.entries(FILES)) {
    files.set(name, { type, body: readFileSync(new URL(name, PAGE_FOLDER)) });
  }
  return files;
}

/**
 * Headers of every page file: nothing loads from elsewhere, no inline script, no framing by another
 * page (the buttons change the proxy: a framed page could be clicked through), nothing cached.
 */
export const PAGE_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};
