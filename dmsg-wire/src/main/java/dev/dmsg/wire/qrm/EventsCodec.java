package dev.dmsg.wire.qrm;

import static dev.dmsg.wire.qrm.QrmCodec.EVENTS_HEADER_BYTES;
import static dev.dmsg.wire.qrm.QrmCodec.MAX_EVENTS;
import static dev.dmsg.wire.qrm.QrmCodec.MAX_MESSAGE_BYTES;
import static dev.dmsg.wire.qrm.QrmCodec.VERSION;
import static dev.dmsg.wire.qrm.QrmCodec.bytes;
import static dev.dmsg.wire.qrm.QrmCodec.check;
import static dev.dmsg.wire.qrm.QrmCodec.checkKv;
import static dev.dmsg.wire.qrm.QrmCodec.checkMax;
import static dev.dmsg.wire.qrm.QrmCodec.checkSize;
import static dev.dmsg.wire.qrm.QrmCodec.putKv;

import io.netty.buffer.ByteBuf;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;

/**
 * The watch events of docs/QUORUM.md §3.4 (aux of EVENTS), little-endian; the public face is
 * {@link QrmCodec}.
 *
 * <pre>
 * 0x00 version u8 = 1   0x01 reserved u8 = 0   0x02 n u16
 * 0x04 event x n: type u8 (1 PUT, 2 DELETE), revision u64, kv (as in results; DELETE: value
 *      empty, counters 0)
 * </pre>
 */
final class EventsCodec {
    private EventsCodec() {}

    static byte[] encode(List<WatchEvent> events) {
        if (events.size() > MAX_EVENTS) {
            throw new IllegalArgumentException("events: " + events.size() + " events; max " + MAX_EVENTS);
        }
        long size = EVENTS_HEADER_BYTES;
        for (int i = 0; i < events.size(); i++) {
            size += checkEvent("event " + i, events.get(i));
        }
        checkSize("events", size, MAX_MESSAGE_BYTES);
        byte[] out = new byte[(int) size];
        ByteBuffer w = ByteBuffer.wrap(out).order(ByteOrder.LITTLE_ENDIAN);
        w.put((byte) VERSION).put((byte) 0).putShort((short) events.size());
        for (WatchEvent e : events) {
            w.put((byte) e.kind().code).putLong(e.revision());
            putKv(w, e.kv());
        }
        assert !w.hasRemaining();
        return out;
    }

    /** Checks what a peer would refuse in one event; returns its size. */
    private static long checkEvent(String where, WatchEvent e) {
        checkKv(where, e.kv());
        check(where, deleteProblem(e.kind(), e.kv()));
        return bytes(e);
    }

    /** docs/QUORUM.md §3.4: a DELETE event carries an empty value and counters 0. */
    private static String deleteProblem(WatchEvent.Kind kind, KeyValue kv) {
        if (kind != WatchEvent.Kind.DELETE) {
            return null;
        }
        if (kv.value().length() != 0) {
            return "DELETE with a " + kv.value().length() + "-byte value; must be empty";
        }
        if (kv.createRevision() != 0 || kv.modRevision() != 0 || kv.version() != 0) {
            return "DELETE with create_revision=" + kv.createRevision() + " mod_revision=" + kv.modRevision()
                + " version=" + kv.version() + "; must be 0";
        }
        return null;
    }

    static List<byte[]> pack(List<WatchEvent> events, int maxBytes) {
        checkMax(maxBytes);
        List<byte[]> out = new ArrayList<>();
        int from = 0;
        long size = EVENTS_HEADER_BYTES;
        for (int i = 0; i < events.size(); i++) {
            long b = checkEvent("event " + i, events.get(i));
            if (EVENTS_HEADER_BYTES + b > maxBytes) {
                throw new IllegalArgumentException("event " + i + ": " + b + " bytes; a message of "
                    + maxBytes + " holds " + (maxBytes - EVENTS_HEADER_BYTES));
            }
            // Bytes bind before the u16 count can: an event is at least 40 bytes, so at most 1,638 fit.
            if (size + b > maxBytes) {
                out.add(encode(events.subList(from, i)));
                from = i;
                size = EVENTS_HEADER_BYTES;
            }
            size += b;
        }
        if (from < events.size()) {
            out.add(encode(events.subList(from, events.size())));
        }
        return out;
    }

    static List<WatchEvent> decode(ByteBuf aux) throws QrmFormatException {
        QrmReader r = new QrmReader(aux, "events");
        r.version();
        r.reserved();
        int n = r.u16("events", "n");
        List<WatchEvent> events = new ArrayList<>(Math.min(n, 16));
        for (int i = 0; i < n; i++) {
            String where = "event " + i;
            int t = r.u8(where, "type");
            WatchEvent.Kind kind = WatchEvent.Kind.of(t);
            if (kind == null) {
                throw QrmReader.fail(where, "unknown type " + t);
            }
            long revision = r.u64(where, "revision");
            KeyValue kv = r.kv(where);
            String problem = deleteProblem(kind, kv);
            if (problem != null) {
                throw QrmReader.fail(where, problem);
            }
            events.add(new WatchEvent(kind, revision, kv));
        }
        r.end();
        return events;
    }
}
