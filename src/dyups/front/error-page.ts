import { STATUS_TEXT } from '../../fastify/error-status.js';

export const ERROR_PAGE_TYPE = 'text/html';

/**
 * The page a 5xx answer carries, shaped as nginx's: the status and its words, nothing about why (the
 * upstream's address, a socket error, a budget) — that goes to the error log.
 */
export function errorPage(status: number): string {
  const title = `${status} ${STATUS_TEXT[status] ?? 'Error'}`;
  return `<html>\r\n<head><title>${title}</title></head>\r\n<body>\r\n<center><h1>${title}</h1></center>\r\n<hr><center>cosocket</center>\r\n</body>\r\n</html>\r\n`;
}

/** One error-log line, nginx's shape: what went wrong, then the client and the request it happened to. */
export function errorLogLine(
  detail: string,
  request: { ip: string; method: string; url: string; headers: { host?: string | undefined } },
): string {
  const host = request.headers.host === undefined ? '' : `, host: ${JSON.stringify(request.headers.host)}`;
  return `${detail}, client: ${request.ip}, request: ${JSON.stringify(`${request.method} ${request.url}`)}${host}`;
}
