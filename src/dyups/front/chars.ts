/** Byte classes of HTTP/1.1 (RFC 9110 section 5.6.2, RFC 9112), as lookup tables indexed by byte. */

function table(accepts: (byte: number) => boolean): Uint8Array {
  const out = new Uint8Array(256);
  for (let b = 0; b < 256; b++) out[b] = accepts(b) ? 1 : 0;
  return out;
}

const TCHAR_PUNCTUATION = "!#$%&'*+-.^_`|~";

/** tchar: what a method and a field name are made of. */
export const TOKEN = table(
  (b) =>
    (b >= 0x30 && b <= 0x39) ||
    (b >= 0x41 && b <= 0x5a) ||
    (b >= 0x61 && b <= 0x7a) ||
    TCHAR_PUNCTUATION.includes(String.fromCharCode(b)),
);

/** A request target: visible ASCII only. */
export const TARGET = table((b) => b >= 0x21 && b <= 0x7e);

/** A field value: HTAB, SP, visible ASCII and obs-text; no other control (CR, LF, NUL, DEL). */
export const FIELD_VALUE = table((b) => b === 0x09 || (b >= 0x20 && b !== 0x7f));

/** A hex digit's value, or 255. */
export const HEX = (() => {
  const out = new Uint8Array(256).fill(255);
  for (let d = 0; d < 10; d++) out[0x30 + d] = d;
  for (let d = 0; d < 6; d++) {
    out[0x41 + d] = 10 + d;
    out[0x61 + d] = 10 + d;
  }
  return out;
})();

export const CR = 0x0d;
export const LF = 0x0a;
export const SP = 0x20;
export const HTAB = 0x09;
export const COLON = 0x3a;

/** `text` without the spaces and tabs around it (OWS); String.trim() would also take U+00A0, a latin1 byte. */
export function trimOws(text: string): string {
  return text.replace(/^[ \t]+|[ \t]+$/g, '');
}
