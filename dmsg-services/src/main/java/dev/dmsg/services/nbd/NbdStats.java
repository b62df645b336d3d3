package dev.dmsg.services.nbd;

import java.util.concurrent.atomic.LongAdder;

/**
 * What a server has refused and how its memory budget is used (docs/BLK.md "Counters"); one per
 * server, incremented from every event loop. {@link NbdServer#stats} copies them.
 */
final class NbdStats {
    final LongAdder accepted = new LongAdder();
    final LongAdder refusedTotalCap = new LongAdder();
    final LongAdder refusedPerClientCap = new LongAdder();
    final LongAdder handshakeTimeouts = new LongAdder();
    final LongAdder malformed = new LongAdder();
    final LongAdder tlsRequiredRefusals = new LongAdder();
    final LongAdder tlsHandshakeFailures = new LongAdder();
    final LongAdder tlsSessions = new LongAdder();
    final LongAdder stalledClosed = new LongAdder();
    final LongAdder errorReplies = new LongAdder();
}
