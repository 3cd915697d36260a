import { STATUS_CODES } from 'node:http';
import { InvalidArgumentError } from '../../errors/index.js';

const statusLines: string[] = [];

/** `HTTP/1.1 200 OK\r\n` for a status, made once per status. */
export function statusLine(status: number): string {
  let line = statusLines[status];
  if (line === undefined) {
    line = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Unknown'}\r\n`;
    if (status >= 100 && status <= 999) statusLines[status] = line;
  }
  return line;
}

let dateSecond = -1;
let dateLine = '';

/** `Date: ...\r\n` for now, made once a second. */
export function dateHeaderLine(): string {
  const now = Date.now();
  const second = Math.floor(now / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateLine = `Date: ${new Date(now).toUTCString()}\r\n`;
  }
  return dateLine;
}

const INVALID_NAME = /[^!#$%&'*+\-.^_`|~0-9A-Za-z]/;
const INVALID_VALUE = /[^\t\x20-\x7e\x80-\xff]/;

/** Refuses a field a response head cannot carry as is (node's own rules: a token name, no CR, LF or NUL in values). */
export function checkField(name: string, value: string | string[]): void {
  if (name.length === 0 || INVALID_NAME.test(name))
    throw new InvalidArgumentError(`header name ${JSON.stringify(name)} is not a valid field name`);
  if (typeof value === 'string') {
    if (INVALID_VALUE.test(value)) throw invalidValue(name);
  } else for (const item of value) if (INVALID_VALUE.test(item)) throw invalidValue(name);
}

function invalidValue(name: string): InvalidArgumentError {
  return new InvalidArgumentError(
    `header '${name}': the value has a character a field value cannot hold (CR, LF, other controls)`,
  );
}
