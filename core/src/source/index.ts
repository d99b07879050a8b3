/**
 * The downstream side: read Tributary's topics as Observables of decoded records.
 * @packageDocumentation
 */
export { consume, type ConsumeOptions, type ConsumedRecord, type ValueFormat } from './consume.js';
