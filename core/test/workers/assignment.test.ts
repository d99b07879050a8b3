import { expect } from 'chai';
import { planAssignment, type GroupMemberInfo } from '../../src/workers/assignment.js';
import { fingerprintOf } from '../../src/workers/group.js';

const member = (memberId: string, owned: number[] = [], fingerprint = 'f'): GroupMemberInfo => ({ memberId, worker: `w-${memberId}`, fingerprint, owned });
const plain = (plan: Map<string, number[]>): Record<string, number[]> => Object.fromEntries(plan);

describe('planAssignment', () => {
  it('spreads units evenly over fresh members, each unit to exactly one', () => {
    const plan = planAssignment({ members: [member('a'), member('b'), member('c')], partitions: 7, units: 7, fingerprint: 'f' });
    const all = [...plan.values()].flat().sort((x, y) => x - y);
    expect(all).to.deep.equal([0, 1, 2, 3, 4, 5, 6]);
    expect([...plan.values()].map((l) => l.length).sort()).to.deep.equal([2, 2, 3]);
  });

  it('is sticky: a new member takes units from the busiest, the others keep what they run', () => {
    const plan = planAssignment({ members: [member('a', [0, 1, 2]), member('b', [3, 4, 5]), member('c')], partitions: 6, units: 6, fingerprint: 'f' });
    expect(plan.get('a')).to.have.length(2);
    expect(plan.get('b')).to.have.length(2);
    expect(plan.get('c')).to.have.length(2);
    for (const p of plan.get('a')!) expect([0, 1, 2]).to.include(p);
    for (const p of plan.get('b')!) expect([3, 4, 5]).to.include(p);
    expect(plan.get('c')).to.deep.equal([2, 5]);
  });

  it('moves only the units of a member that left', () => {
    const plan = planAssignment({ members: [member('a', [0, 3]), member('c', [2, 5])], partitions: 6, units: 6, fingerprint: 'f' });
    expect(plain(plan)).to.deep.equal({ a: [0, 1, 3], c: [2, 4, 5] });
  });

  it('gives a unit claimed twice to one member only', () => {
    const plan = planAssignment({ members: [member('a', [0, 1]), member('b', [1, 2])], partitions: 3, units: 3, fingerprint: 'f' });
    const all = [...plan.values()].flat().sort();
    expect(all).to.deep.equal([0, 1, 2]);
    expect(plan.get('a')).to.include(0);
    expect(plan.get('b')).to.include(2);
  });

  it('gives nothing to members whose list of units differs from the leader\'s', () => {
    const plan = planAssignment({ members: [member('a'), member('b', [0, 1], 'other')], partitions: 2, units: 2, fingerprint: 'f' });
    expect(plain(plan)).to.deep.equal({ a: [0, 1], b: [] });
  });

  it('spreads idle partitions (beyond the units) round-robin and ignores claims on them', () => {
    const plan = planAssignment({ members: [member('a', [4]), member('b')], partitions: 5, units: 2, fingerprint: 'f' });
    const work = [...plan.values()].map((l) => l.filter((p) => p < 2).length);
    expect(work).to.deep.equal([1, 1]);
    expect([...plan.values()].flat().sort()).to.deep.equal([0, 1, 2, 3, 4]);
  });

  it('has more members than units: some stay idle', () => {
    const plan = planAssignment({ members: [member('a'), member('b'), member('c')], partitions: 2, units: 2, fingerprint: 'f' });
    expect([...plan.values()].map((l) => l.length).sort()).to.deep.equal([0, 1, 1]);
  });
});

describe('fingerprintOf', () => {
  it('changes with the list of units and its order', () => {
    expect(fingerprintOf(['a', 'b'])).to.equal(fingerprintOf(['a', 'b']));
    expect(fingerprintOf(['a', 'b'])).to.not.equal(fingerprintOf(['a', 'c']));
    expect(fingerprintOf(['a', 'b'])).to.not.equal(fingerprintOf(['b', 'a']));
  });
});
