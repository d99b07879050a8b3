export { planAssignment, type AssignmentInput, type GroupMemberInfo } from './assignment.js';
export { WorkGroup, fingerprintOf, WORK_ASSIGNER, type WorkAssignment, type WorkGroupHooks, type WorkGroupOptions } from './group.js';
