/** A balancing method a dyups bench measures: its label in the tables and the group lines that pick it. */
export interface BalancingMethod {
  id: string;
  lines: string;
}

/** The built-in methods that need nothing beyond their group's servers, SWRR (nginx's default) first. */
export const BUILT_IN_METHODS: readonly BalancingMethod[] = [
  { id: 'swrr', lines: '' },
  { id: 'least_conn', lines: 'least_conn;' },
  { id: 'random', lines: 'random;' },
  { id: 'random two least_conn', lines: 'random two least_conn;' },
  { id: 'least_time header', lines: 'least_time header;' },
  { id: 'ewma', lines: 'ewma;' },
];
