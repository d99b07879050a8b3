/**
 * Tributary's resilience operators: RxJS operators usable on their own, without the rest of the framework.
 * @packageDocumentation
 */
export {};
