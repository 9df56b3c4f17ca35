/**
 * The little dense linear algebra the trainer needs: symmetric positive definite solves for
 * ALS and Newton steps (k ≤ ~64, so a plain Cholesky is exact enough and fast).
 */

/**
 * Solves A x = b for symmetric positive definite A (n × n, row-major; only the lower
 * triangle is read). A is overwritten by its Cholesky factor; the result goes into `out`.
 */
export function choleskySolve(
  a: Float64Array,
  b: Float64Array,
  n: number,
  out: Float64Array,
): void {
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let sum = a[i * n + j];
      for (let k = 0; k < j; k++) sum -= a[i * n + k] * a[j * n + k];
      if (i === j) {
        if (!(sum > 0)) throw new Error(`matrix is not positive definite (pivot ${i}: ${sum})`);
        a[i * n + i] = Math.sqrt(sum);
      } else a[i * n + j] = sum / a[j * n + j];
    }
  }
  for (let i = 0; i < n; i++) {
    let sum = b[i];
    for (let k = 0; k < i; k++) sum -= a[i * n + k] * out[k];
    out[i] = sum / a[i * n + i];
  }
  for (let i = n - 1; i >= 0; i--) {
    let sum = out[i];
    for (let k = i + 1; k < n; k++) sum -= a[k * n + i] * out[k];
    out[i] = sum / a[i * n + i];
  }
}

/** Mean and population standard deviation of each column of a row-major matrix. */
export function columnStats(
  rows: Float64Array | Float32Array,
  width: number,
  weights?: ArrayLike<number>,
): { mean: Float64Array; std: Float64Array } {
  const n = rows.length / width;
  const mean = new Float64Array(width);
  const m2 = new Float64Array(width);
  let total = 0;
  for (let r = 0; r < n; r++) {
    const w = weights ? weights[r] : 1;
    if (w === 0) continue;
    total += w;
    for (let j = 0; j < width; j++) {
      const v = rows[r * width + j];
      const delta = v - mean[j];
      mean[j] += (w * delta) / total;
      m2[j] += w * delta * (v - mean[j]);
    }
  }
  const std = m2.map((v) => (total > 0 ? Math.sqrt(v / total) : 0));
  return { mean, std };
}
