package dev.dmsg.link;

import java.util.Map;

/**
 * A snapshot of a link's counters. Every drop or reject is counted (STYLE: errors).
 *
 * @param violations peer breaches of the transaction rules, dropped (never fatal)
 * @param abortsDiscarded ABORTs for unknown or closed msgids, discarded silently as the seed asks
 * @param nosuppSent transactions refused with NOSUPP because no service handles their command
 * @param sendsDiscarded our messages dropped because the link or the transaction was already closed
 * @param handlerErrors exceptions thrown by handlers (the transaction was aborted, the link kept)
 * @param msgsRelayed messages received on circuits that pass through (handed to their relay)
 * @param msgsForwarded messages sent for circuits that pass through ({@link LinkCircuits#forward})
 * @param oneWayErrors one-way LNK_ERRORs received and dropped: a C peer's NOSUPP answers to our
 *     PINGs and its shell prompts (never answered; life for the keepalive like any message)
 * @param denied requests refused because the peer's role does not allow them (docs/SECURITY.md §5)
 * @param refusedOverLimit transactions the peer opened past {@link LinkConfig#maxPeerTransactions()},
 *     or past their originator's budget on an authenticated circuit, answered LIMIT
 * @param sealFailures messages on authenticated circuits ending here that failed to open
 *     (docs/IDENTITY.md §4.2): each closed its circuit
 * @param bytesRelayed frame bytes of {@code msgsRelayed}
 * @param bytesForwarded frame bytes of {@code msgsForwarded}
 */
public record LinkStats(
        long msgsIn, long bytesIn, long msgsOut, long bytesOut, long pingsSent, long pingsReceived,
        Map<Violation, Long> violations, long abortsDiscarded, long nosuppSent, long sendsDiscarded,
        long handlerErrors, int openTransactions, long msgsRelayed, long msgsForwarded, long oneWayErrors,
        long denied, long refusedOverLimit, long sealFailures, long bytesRelayed, long bytesForwarded) {

    public long violationCount() {
        return violations.values().stream().mapToLong(Long::longValue).sum();
    }
}
