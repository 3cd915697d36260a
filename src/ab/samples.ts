/** One row per completed request, in microseconds, as ab keeps them (its `struct data`). */
export interface Sample {
  /** When the request's connection started (or, kept alive, when the previous response ended). */
  start: number;
  /** Connect time. */
  ctime: number;
  /** Total time. */
  time: number;
  /** From the request written to the first byte of the response. */
  wait: number;
}

/** Completed requests' timings in flat arrays: no object per request while the load runs. */
export class SampleLog {
  length = 0;
  private columns: [Float64Array, Float64Array, Float64Array, Float64Array];

  constructor(capacity = 1024) {
    const size = Math.max(16, capacity);
    this.columns = [new Float64Array(size), new Float64Array(size), new Float64Array(size), new Float64Array(size)];
  }

  push(start: number, ctime: number, time: number, wait: number): void {
    if (this.length === this.columns[0].length) this.grow();
    const i = this.length++;
    this.columns[0][i] = start;
    this.columns[1][i] = ctime;
    this.columns[2][i] = time;
    this.columns[3][i] = wait;
  }

  /** One column (0 start, 1 ctime, 2 time, 3 wait) in whole microseconds, as ab's clock gives them. */
  column(index: 0 | 1 | 2 | 3): Float64Array {
    const source = this.columns[index];
    const out = new Float64Array(this.length);
    for (let i = 0; i < this.length; i++)
      out[i] = index === 0 ? Math.round(source[i]!) : Math.max(0, Math.round(source[i]!));
    return out;
  }

  /** Every row, times rounded to whole microseconds as ab's clock gives them. */
  rows(): Sample[] {
    const [start, ctime, time, wait] = this.columns;
    const rows = new Array<Sample>(this.length);
    for (let i = 0; i < this.length; i++)
      rows[i] = {
        start: Math.round(start[i]!),
        ctime: Math.max(0, Math.round(ctime[i]!)),
        time: Math.max(0, Math.round(time[i]!)),
        wait: Math.max(0, Math.round(wait[i]!)),
      };
    return rows;
  }

  /** The arrays cut to length, for postMessage from a load thread. */
  toColumns(): Float64Array[] {
    return this.columns.map((column) => column.slice(0, this.length));
  }

  /** Appends rows sent by another thread, shifting their start times by `offset` µs. */
  appendColumns(columns: readonly Float64Array[], offset: number): void {
    const [start, ctime, time, wait] = columns as [Float64Array, Float64Array, Float64Array, Float64Array];
    for (let i = 0; i < start.length; i++) this.push(start[i]! + offset, ctime[i]!, time[i]!, wait[i]!);
  }

  private grow(): void {
    this.columns = this.columns.map((column) => {
      const bigger = new Float64Array(column.length * 2);
      bigger.set(column);
      return bigger;
    }) as [Float64Array, Float64Array, Float64Array, Float64Array];
  }
}
