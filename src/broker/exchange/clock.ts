/**
 * The time the broker decides conditions by: rule time windows, secret expiry and read-budget windows. Tests
 * give the broker their own (ServiceOptions.clock, in process); nothing outside code can set it.
 */
export interface Clock {
  now(): Date;
}

export const SYSTEM_CLOCK: Clock = { now: () => new Date() };
