import { CosocketError } from './base.js';

/** file.read() of a file larger than its `maxBytes`. */
export class FileTooLargeError extends CosocketError {
  constructor(path: string, size: number, maxBytes: number) {
    super('COSOCKET_ERR_FILE_TOO_LARGE', `${path}: ${size} bytes, more than ${maxBytes}`);
  }
}

/** A file gave back fewer bytes than were written to it, or took none of a write (e.g. a temp file truncated). */
export class FileShortError extends CosocketError {
  constructor(path: string, op: 'read' | 'write', done: number, wanted: number) {
    super('COSOCKET_ERR_FILE_SHORT', `${path}: ${op} of ${wanted} bytes did ${done}`);
  }
}

/** A file cosocket was used after it was closed. */
export class FileClosedError extends CosocketError {
  constructor(path: string) {
    super('COSOCKET_ERR_FILE_CLOSED', `${path}: file is closed`);
  }
}
