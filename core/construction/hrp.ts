// Hierarchical risk parity (López de Prado 2016, "Building Diversified Portfolios that Outperform
// Out of Sample"): cluster the assets by correlation, order them so that similar ones sit together
// (quasi-diagonalisation), then split the order in halves again and again, giving each half a share
// inversely proportional to its variance. No matrix is inverted, so a near-singular covariance is
// no trouble. Distances are the correlation distance d = √(½(1 − ρ)) clustered by single linkage
// (as PyPortfolioOpt and Riskfolio do; the paper's code clusters the Euclidean distances between
// columns of d, an O(N³) step this leaves out). The tree and the order follow scipy's
// conventions (a merge lists the cluster with the smaller id first), so the weights match the
// paper's Python for the same linkage.

/** One merge of the dendrogram: cluster ids (leaves 0..N−1, the k-th merge N + k), lower id first. */
export interface Merge {
  readonly left: number;
  readonly right: number;
  readonly distance: number;
}

/** √(½(1 − ρᵢⱼ)) from the covariance, without building the N×N matrix. */
function distanceFrom(
  covariance: readonly (readonly number[])[],
  sd: readonly number[],
  i: number,
  j: number,
): number {
  const correlation = covariance[i]![j]! / (sd[i]! * sd[j]!);
  return Math.sqrt(Math.max(0, 0.5 * (1 - correlation)));
}

/**
 * Single-linkage merges, lowest distance first: the minimum spanning tree (Prim, O(N²)) sorted by
 * edge length (stable, as scipy's), each edge joining the clusters its ends belong to.
 */
export function singleLinkage(covariance: readonly (readonly number[])[]): Merge[] {
  const n = covariance.length;
  const sd = covariance.map((row, i) => Math.sqrt(row[i]!));
  const inTree = new Uint8Array(n);
  const nearest = new Float64Array(n).fill(Number.POSITIVE_INFINITY);
  const from = new Int32Array(n);
  const edges: { a: number; b: number; distance: number }[] = [];
  let current = 0;
  inTree[0] = 1;
  for (let added = 1; added < n; added++) {
    let next = -1;
    for (let j = 0; j < n; j++) {
      if (inTree[j]) continue;
      const d = distanceFrom(covariance, sd, current, j);
      if (d < nearest[j]!) {
        nearest[j] = d;
        from[j] = current;
      }
      if (next < 0 || nearest[j]! < nearest[next]!) next = j;
    }
    edges.push({ a: from[next]!, b: next, distance: nearest[next]! });
    inTree[next] = 1;
    current = next;
  }
  edges.sort((x, y) => x.distance - y.distance);
  // Union-find over leaves; `clusterOf[root]` is the id of the cluster that root stands for.
  const parent = Int32Array.from({ length: n }, (_, i) => i);
  const clusterOf = Int32Array.from({ length: n }, (_, i) => i);
  const root = (i: number): number => {
    let r = i;
    while (parent[r] !== r) r = parent[r]!;
    while (parent[i] !== r) {
      const up = parent[i]!;
      parent[i] = r;
      i = up;
    }
    return r;
  };
  return edges.map((edge, k) => {
    const [ra, rb] = [root(edge.a), root(edge.b)];
    const [ca, cb] = [clusterOf[ra]!, clusterOf[rb]!];
    parent[rb] = ra;
    clusterOf[ra] = n + k;
    return { left: Math.min(ca, cb), right: Math.max(ca, cb), distance: edge.distance };
  });
}

/** The leaves in dendrogram order, left subtree before right (quasi-diagonalisation). */
export function quasiDiagonalOrder(merges: readonly Merge[], assets: number): number[] {
  if (assets === 1) return [0];
  const order: number[] = [];
  const stack = [assets + merges.length - 1];
  while (stack.length > 0) {
    const id = stack.pop()!;
    if (id < assets) order.push(id);
    else {
      const merge = merges[id - assets]!;
      stack.push(merge.right, merge.left);
    }
  }
  return order;
}

/** The variance of a cluster held at inverse-variance weights within it. */
function clusterVariance(covariance: readonly (readonly number[])[], members: readonly number[]): number {
  let total = 0;
  for (const i of members) total += 1 / covariance[i]![i]!;
  let variance = 0;
  for (const i of members) {
    const row = covariance[i]!;
    let rowSum = 0;
    for (const j of members) rowSum += row[j]! / covariance[j]![j]!;
    variance += rowSum / covariance[i]![i]!;
  }
  return variance / (total * total);
}

/**
 * Recursive bisection: each list of the order is cut at ⌊len/2⌋ and the halves share its weight
 * as α = 1 − V_left/(V_left + V_right) and 1 − α, V a half's inverse-variance cluster variance.
 * Variances must be positive.
 */
export function recursiveBisection(
  covariance: readonly (readonly number[])[],
  order: readonly number[],
): Float64Array {
  const weights = new Float64Array(covariance.length).fill(0);
  for (const i of order) weights[i] = 1;
  const pending: (readonly number[])[] = [order];
  while (pending.length > 0) {
    const cluster = pending.pop()!;
    if (cluster.length < 2) continue;
    const half = cluster.length >> 1;
    const left = cluster.slice(0, half);
    const right = cluster.slice(half);
    const varianceLeft = clusterVariance(covariance, left);
    const alpha = 1 - varianceLeft / (varianceLeft + clusterVariance(covariance, right));
    for (const i of left) weights[i]! *= alpha;
    for (const i of right) weights[i]! *= 1 - alpha;
    pending.push(left, right);
  }
  return weights;
}

/** HRP weights (long-only, summing to 1) for a covariance with positive variances. */
export function hierarchicalRiskParity(covariance: readonly (readonly number[])[]): Float64Array {
  const order = quasiDiagonalOrder(singleLinkage(covariance), covariance.length);
  return recursiveBisection(covariance, order);
}
