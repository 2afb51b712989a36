import type { CompiledPolicy } from './compiled-policy.js';

/** The policy being served. Swapped as a whole, so a request sees one policy from start to end. */
export class PolicyHolder {
  constructor(private policy: CompiledPolicy) {}

  get current(): CompiledPolicy {
    return this.policy;
  }

  replace(policy: CompiledPolicy): void {
    this.policy = policy;
  }
}
