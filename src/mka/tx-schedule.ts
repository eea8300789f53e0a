/**
 * When a participant sends its next MKPDU: every hello time, and sooner when a state change
 * has to reach the peers ("prompt"), without flooding them. Pure.
 */

/** Minimum spacing of MKPDUs sent promptly on a state change. */
export const PROMPT_MIN_SPACING_MS = 10;
/**
 * Delay of a "soft" prompt: a live peer lists us only as potential, so it needs to see our MKPDU
 * to count us live. Usually another MKPDU goes out first (e.g. carrying the SAK), making it moot.
 */
export const PROMPT_SOFT_DELAY_MS = 50;

export class TxSchedule {
  private lastSentAt = -Infinity;
  private nextHelloAt = Infinity;
  private promptAt: number | null = null;
  private softPromptAt: number | null = null;

  constructor(private readonly helloTimeMs: number) {}

  /** Send at `now` regardless of spacing (the first MKPDU after start). */
  promptNow(now: number): void {
    this.promptAt = now;
  }

  /** Send as soon as the spacing since the last MKPDU allows. */
  urgent(now: number): void {
    const at = Math.max(now, this.lastSentAt + PROMPT_MIN_SPACING_MS);
    if (this.promptAt === null || at < this.promptAt) this.promptAt = at;
  }

  /** Send within PROMPT_SOFT_DELAY_MS unless something else goes out first. */
  soft(now: number): void {
    const at = now + PROMPT_SOFT_DELAY_MS;
    if (this.softPromptAt === null || at < this.softPromptAt) this.softPromptAt = at;
  }

  due(now: number): boolean {
    return now >= this.nextHelloAt || (this.promptAt !== null && now >= this.promptAt) || (this.softPromptAt !== null && now >= this.softPromptAt);
  }

  /** An MKPDU went out: prompts are served, the next hello is one hello time away. */
  sent(now: number): void {
    this.lastSentAt = now;
    this.nextHelloAt = now + this.helloTimeMs;
    this.promptAt = null;
    this.softPromptAt = null;
  }

  /** The times at which a send may become due. */
  timers(): number[] {
    const t = [this.nextHelloAt];
    if (this.promptAt !== null) t.push(this.promptAt);
    if (this.softPromptAt !== null) t.push(this.softPromptAt);
    return t;
  }
}
