import { CosocketError } from './base.js';

/** file.read() of a file larger than its `maxBytes`. */
export class FileTooLargeError extends CosocketError {
  constructor(path: string, size: number, maxBytes: number) {
    super('COSOCKET_ERR_FILE_TOO_LARGE', `${path}: ${size} bytes, more than ${maxBytes}`);
  }
}

export class FileClosedError extends CosocketError {
  constructor(path: string) {
    super('COSOCKET_ERR_FILE_CLOSED', `${path}: file is closed`);
  }
}
