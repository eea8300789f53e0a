/** Simulation kit for the KaY: SecY model, LAN with a controllable clock, invariant checkers. */
export { SimulatedSecy, type SimRxSa, type SimTxSa } from '../../secy/simulated.js';
export { SimLan, type Checker, type FrameRecord, type LanOptions, type SimMember } from './lan.js';
export { makeBeforeBreak, makeBeforeBreakViolations, secyErrors } from './checker.js';
export { seededRandom } from './random.js';
