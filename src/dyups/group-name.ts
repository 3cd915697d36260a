/** The longest upstream group name: a DNS name's limit, since the proxy routes by Host. */
export const GROUP_NAME_MAX_LENGTH = 253;

const GROUP_NAME = /^[A-Za-z0-9_.-]+$/;

/**
 * Why `name` cannot name an upstream group, or null when it can. One grammar (nginx's upstream names:
 * letters, digits, `_`, `-`, `.`) for every way a name arrives: the admin, Redis sync, cluster sync and
 * the state file.
 */
export function groupNameProblem(name: unknown): string | null {
  if (typeof name !== 'string' || name === '') return 'invalid upstream name: it is empty';
  if (name.length > GROUP_NAME_MAX_LENGTH)
    return `invalid upstream name '${name.slice(0, 40)}...': longer than ${GROUP_NAME_MAX_LENGTH} characters`;
  if (!GROUP_NAME.test(name))
    return `invalid upstream name '${name.slice(0, 80)}': only letters, digits, '_', '-' and '.'`;
  return null;
}

export function isGroupName(name: unknown): name is string {
  return groupNameProblem(name) === null;
}

/**
 * The one spelling a name is kept under: names match case-insensitively, as the host names the proxy
 * routes by do, so `App.Local` and `app.local` are one group.
 */
export function groupKey(name: string): string {
  return name.toLowerCase();
}
