/**
 * A member of a worker group as the group leader sees it when it assigns the units of work.
 */
export interface GroupMemberInfo {
  /** The member id the group coordinator gave it. */
  memberId: string;
  /** The worker's own id (`--worker <id>`). */
  worker: string;
  /** Fingerprint of the worker's list of units; members with another list get nothing. */
  fingerprint: string;
  /** The control-topic partitions the worker runs now (kept where the balance allows). */
  owned: readonly number[];
}

/** Input of {@link planAssignment}. */
export interface AssignmentInput {
  members: readonly GroupMemberInfo[];
  /** Partitions of the control topic. */
  partitions: number;
  /** Units of work; partitions `0 .. units - 1` carry one unit each, the rest are idle. */
  units: number;
  /** The fingerprint of the leader's own list of units. */
  fingerprint: string;
}

/**
 * Decides which worker runs which unit (control-topic partition): sticky and balanced.
 *
 * Every member with the leader's fingerprint gets `floor(units / members)` or one more units.
 * A member keeps the units it runs as long as it is within its share, so a rebalance moves only
 * what must move (a new member takes units from the busiest, a dead member's units go to the
 * least busy). Members whose list of units differs from the leader's (a pipeline file that
 * changed on some machines only) get no units, so the same unit cannot mean two things. Idle
 * partitions (beyond `units`) are spread round-robin; they carry no work.
 *
 * @example
 * ```ts
 * import { planAssignment } from '@tributary/core';
 * const plan = planAssignment({
 *   partitions: 3, units: 3, fingerprint: 'f',
 *   members: [
 *     { memberId: 'a', worker: 'w1', fingerprint: 'f', owned: [0, 1, 2] },
 *     { memberId: 'b', worker: 'w2', fingerprint: 'f', owned: [] },
 *   ],
 * });
 * plan.get('a'); // [0, 1]
 * plan.get('b'); // [2]
 * ```
 */
export function planAssignment(input: AssignmentInput): Map<string, number[]> {
  const plan = new Map<string, number[]>(input.members.map((m) => [m.memberId, []]));
  const eligible = input.members.filter((m) => m.fingerprint === input.fingerprint).sort((a, b) => compare(a.memberId, b.memberId));
  if (eligible.length === 0) return plan;
  const units = Math.min(input.units, input.partitions);

  // The first eligible claimant of a unit partition keeps its claim (a partition claimed twice,
  // after a split brain, goes to the first one only).
  const claimed = new Map<string, number[]>();
  const taken = new Set<number>();
  for (const m of eligible) {
    const mine: number[] = [];
    for (const p of [...new Set(m.owned)].sort((a, b) => a - b)) {
      if (!Number.isInteger(p) || p < 0 || p >= units || taken.has(p)) continue;
      taken.add(p);
      mine.push(p);
    }
    claimed.set(m.memberId, mine);
  }

  // The members that run the most get the larger shares, so that fewer units move.
  const base = Math.floor(units / eligible.length);
  const extra = units % eligible.length;
  const byLoad = [...eligible].sort((a, b) => claimed.get(b.memberId)!.length - claimed.get(a.memberId)!.length || compare(a.memberId, b.memberId));
  const quota = new Map<string, number>(byLoad.map((m, i) => [m.memberId, base + (i < extra ? 1 : 0)]));

  const pool: number[] = [];
  for (let p = 0; p < units; p++) if (!taken.has(p)) pool.push(p);
  for (const m of eligible) {
    const mine = claimed.get(m.memberId)!;
    const keep = mine.slice(0, quota.get(m.memberId)!);
    pool.push(...mine.slice(keep.length));
    plan.set(m.memberId, keep);
  }
  pool.sort((a, b) => a - b);
  for (const m of byLoad) {
    const mine = plan.get(m.memberId)!;
    while (mine.length < quota.get(m.memberId)! && pool.length > 0) mine.push(pool.shift()!);
  }
  for (let p = units, i = 0; p < input.partitions; p++, i++) plan.get(eligible[i % eligible.length]!.memberId)!.push(p);
  for (const list of plan.values()) list.sort((a, b) => a - b);
  return plan;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
