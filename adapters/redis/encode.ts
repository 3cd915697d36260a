import { InvalidArgumentError } from '../../src/errors/index.js';

/** An argument of a Redis command: strings and numbers go as text, Buffers as they are. */
export type RedisArg = string | number | Buffer;

/** What a socket write takes: one string (written as UTF-8) or, when any argument is binary, Buffers. */
export type Encoded = string | Buffer[];

function badArgument(command: string, index: number, arg: unknown): InvalidArgumentError {
  const what = arg === null ? 'null' : typeof arg;
  return new InvalidArgumentError(
    `redis ${command}: argument ${index + 1} must be a string, number or Buffer, got ${what}`,
  );
}

function header(command: string, args: readonly RedisArg[]): string {
  return `*${args.length + 1}\r\n$${Buffer.byteLength(command)}\r\n${command}\r\n`;
}

/** One command as RESP (an array of bulk strings), in one string unless an argument is a Buffer. */
export function encodeCommand(command: string, args: readonly RedisArg[]): Encoded {
  let out = header(command, args);
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (typeof arg === 'string') out += `$${Buffer.byteLength(arg)}\r\n${arg}\r\n`;
    else if (typeof arg === 'number') {
      const text = String(arg);
      out += `$${text.length}\r\n${text}\r\n`;
    } else if (arg instanceof Uint8Array) return encodeBinary(command, args);
    else throw badArgument(command, i, arg);
  }
  return out;
}

function encodeBinary(command: string, args: readonly RedisArg[]): Buffer[] {
  const parts: Buffer[] = [];
  let text = header(command, args);
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg instanceof Uint8Array) {
      text += `$${arg.length}\r\n`;
      parts.push(Buffer.from(text), Buffer.from(arg.buffer, arg.byteOffset, arg.length));
      text = '\r\n';
    } else if (typeof arg === 'string') text += `$${Buffer.byteLength(arg)}\r\n${arg}\r\n`;
    else if (typeof arg === 'number') {
      const value = String(arg);
      text += `$${value.length}\r\n${value}\r\n`;
    } else throw badArgument(command, i, arg);
  }
  parts.push(Buffer.from(text));
  return parts;
}

/** Several encoded commands as one write. */
export function joinEncoded(commands: readonly Encoded[]): Encoded {
  if (commands.every((c) => typeof c === 'string')) return (commands as string[]).join('');
  const parts: Buffer[] = [];
  for (const c of commands) {
    if (typeof c === 'string') parts.push(Buffer.from(c));
    else parts.push(...c);
  }
  return parts;
}
