package dev.dmsg.services.legacy;

import java.util.ArrayList;
import java.util.List;

/**
 * What the scripted 2013 peer received that would have crashed, asserted or confused the real
 * libdmsg, or that a 2013 peer must never be sent (docs/LEGACY.md "What a 2013 peer is never
 * sent"). The fixture survives each one so that a test can report it — then {@link #check} fails
 * the test that sent it. Thread-safe.
 */
final class CrashLedger {
    /** Enough to say what went wrong; a flood of the same mistake is counted, not kept. */
    private static final int KEEP = 20;

    private final List<String> entries = new ArrayList<>();
    private long count;
    private boolean tolerated;

    /** Records one input the real C code would not have survived (or must never see). */
    synchronized void record(String what) {
        count++;
        if (entries.size() < KEEP) {
            entries.add(what);
        }
    }

    /** For a test that feeds the fixture bad input on purpose: {@link #check} passes. */
    synchronized void tolerate() {
        tolerated = true;
    }

    synchronized List<String> entries() {
        return List.copyOf(entries);
    }

    synchronized long count() {
        return count;
    }

    /** Throws, naming each input, unless nothing was recorded (or the test tolerates it). */
    synchronized void check(String who) {
        if (count == 0 || tolerated) {
            return;
        }
        StringBuilder b = new StringBuilder(who).append(" received ").append(count)
            .append(" input(s) the 2013 C code asserts or crashes on, or must never be sent (docs/LEGACY.md):");
        for (String e : entries) {
            b.append("\n  - ").append(e);
        }
        if (count > entries.size()) {
            b.append("\n  … and ").append(count - entries.size()).append(" more");
        }
        throw new AssertionError(b.toString());
    }
}
