/**
 * Twilio's call statuses in the order a call goes through them. Callbacks can arrive late or out
 * of order (a retried `ringing` after `completed`): a status only replaces an earlier one, and a
 * final status is never replaced.
 */
const RANK: Readonly<Record<string, number>> = {
  queued: 0,
  initiated: 1,
  ringing: 2,
  'in-progress': 3,
  completed: 4,
  busy: 4,
  'no-answer': 4,
  failed: 4,
  canceled: 4,
};

export const CALL_STATUSES = Object.keys(RANK);

export const isKnownStatus = (status: string): boolean => Object.hasOwn(RANK, status);

export const isFinalStatus = (status: string): boolean => RANK[status] === 4;

/** Whether `next` moves a call in state `current` forward. Unknown statuses never do. */
export const supersedes = (next: string, current: string): boolean => isKnownStatus(next) && !isFinalStatus(current) && (RANK[next] as number) > (RANK[current] ?? -1);

/** Answering-machine detection results that mean no person picked up. */
export const isMachine = (answeredBy: string): boolean => answeredBy.startsWith('machine_') || answeredBy === 'fax';

/** Machine results that come at the end of the greeting (the beep): the moment to leave a message. */
export const isMessageEnd = (answeredBy: string): boolean => answeredBy.startsWith('machine_end_');
