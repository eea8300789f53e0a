/** The KaY implementation the agent drives (src/mka/kay.ts). */
import { Kay } from '../mka/kay.js';
import type { KayFactory } from './engine.js';

export const kayFactory: KayFactory = (cfg) => new Kay(cfg);

export async function loadKayFactory(): Promise<KayFactory | undefined> {
  return kayFactory;
}
