package dev.dmsg.quorum.store;

import dev.dmsg.quorum.cac.CacEntries;
import dev.dmsg.quorum.cac.CacFormatException;
import dev.dmsg.wire.qrm.Batch;
import dev.dmsg.wire.qrm.QrmCodec;
import dev.dmsg.wire.qrm.QrmFormatException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;

/**
 * The state-machine data of a Raft log entry (docs/QUORUM.md §4.1), little-endian:
 *
 * <pre>
 * 0x00 u8 kind      1 PREPARE, 2 COMMIT, 3 ABORT, 4 EXPIRE, 5 WRITE
 * 0x01 u8 version   1
 * PREPARE: 0x02 txid[16] ; 0x12 u32 lease_ms ; 0x16 batch (§3.3, QrmCodec)
 * COMMIT:  0x02 txid[16]
 * ABORT:   0x02 txid[16] ; 0x12 u8 why (1 initiator, 2 lost initiator)
 * EXPIRE:  0x02 txid[16]
 * WRITE:   0x02 batch
 * 10..16:  a lock entry (docs/CAC.md §5, {@link CacEntries})
 * </pre>
 *
 * Decoding refuses anything else with a {@link QrmFormatException} naming the field: an entry
 * that does not decode is applied as {@link Outcome.Invalid}, alike on every member.
 */
public final class LogEntries {
    private LogEntries() {}

    public static final int VERSION = 1;
    public static final int PREPARE = 1;
    public static final int COMMIT = 2;
    public static final int ABORT = 3;
    public static final int EXPIRE = 4;
    public static final int WRITE = 5;

    static final int KIND_OFFSET = 0;
    static final int VERSION_OFFSET = 1;
    static final int TXID_OFFSET = 2;
    static final int AFTER_TXID_OFFSET = TXID_OFFSET + Txid.BYTES;
    static final int PREPARE_BATCH_OFFSET = AFTER_TXID_OFFSET + 4;
    static final int WRITE_BATCH_OFFSET = 2;

    /**
     * The entry's bytes.
     *
     * @throws IllegalArgumentException if its batch is one a member must refuse (QrmCodec's rules)
     */
    public static byte[] encode(LogEntry e) {
        if (e instanceof LogEntry.Prepare p) {
            byte[] batch = QrmCodec.encodeBatch(p.batch());
            return header(PREPARE, PREPARE_BATCH_OFFSET + batch.length, p.txid())
                .putInt(p.leaseMs()).put(batch).array();
        } else if (e instanceof LogEntry.Commit c) {
            return header(COMMIT, AFTER_TXID_OFFSET, c.txid()).array();
        } else if (e instanceof LogEntry.Abort a) {
            return header(ABORT, AFTER_TXID_OFFSET + 1, a.txid()).put((byte) a.why().code).array();
        } else if (e instanceof LogEntry.Expire x) {
            return header(EXPIRE, AFTER_TXID_OFFSET, x.txid()).array();
        } else if (e instanceof LogEntry.Write w) {
            byte[] batch = QrmCodec.encodeBatch(w.batch());
            return header(WRITE, WRITE_BATCH_OFFSET + batch.length, null).put(batch).array();
        } else if (e instanceof LogEntry.Lock l) {
            return CacEntries.encode(l.entry());
        }
        throw new AssertionError(e);
    }

    private static ByteBuffer header(int kind, int size, Txid txid) {
        ByteBuffer b = ByteBuffer.allocate(size).order(ByteOrder.LITTLE_ENDIAN);
        b.put((byte) kind).put((byte) VERSION);
        if (txid != null) {
            b.put(txid.toBytes());
        }
        return b;
    }

    /** The entry in {@code data}, which must be exactly one entry (no trailing bytes). */
    public static LogEntry decode(byte[] data) throws QrmFormatException {
        if (data.length < 2) {
            throw new QrmFormatException("log entry: " + data.length + " bytes; min 2 (kind, version)");
        }
        int kind = data[KIND_OFFSET] & 0xFF;
        int version = data[VERSION_OFFSET] & 0xFF;
        if (version != VERSION) {
            throw new QrmFormatException("log entry: version " + version + "; want " + VERSION);
        }
        if (CacEntries.isCac(kind)) {
            try {
                return new LogEntry.Lock(CacEntries.decode(data));
            } catch (CacFormatException e) {
                throw new QrmFormatException(e.getMessage());
            }
        }
        switch (kind) {
            case PREPARE: {
                need(data, PREPARE_BATCH_OFFSET, "PREPARE");
                long lease = ByteBuffer.wrap(data, AFTER_TXID_OFFSET, 4).order(ByteOrder.LITTLE_ENDIAN).getInt() & 0xFFFF_FFFFL;
                if (lease > KvState.MAX_LEASE_MS) {
                    throw new QrmFormatException("PREPARE: lease_ms " + lease + "; max " + KvState.MAX_LEASE_MS);
                }
                return new LogEntry.Prepare(txid(data), (int) lease, batch(data, PREPARE_BATCH_OFFSET, "PREPARE"));
            }
            case COMMIT:
                exactly(data, AFTER_TXID_OFFSET, "COMMIT");
                return new LogEntry.Commit(txid(data));
            case ABORT: {
                exactly(data, AFTER_TXID_OFFSET + 1, "ABORT");
                int code = data[AFTER_TXID_OFFSET] & 0xFF;
                LogEntry.Why why = LogEntry.Why.of(code);
                if (why == null) {
                    throw new QrmFormatException("ABORT: why " + code + "; want 1 or 2");
                }
                return new LogEntry.Abort(txid(data), why);
            }
            case EXPIRE:
                exactly(data, AFTER_TXID_OFFSET, "EXPIRE");
                return new LogEntry.Expire(txid(data));
            case WRITE:
                return new LogEntry.Write(batch(data, WRITE_BATCH_OFFSET, "WRITE"));
            default:
                throw new QrmFormatException("log entry: kind " + kind + "; want 1..5 or 10..16");
        }
    }

    private static void need(byte[] data, int min, String what) throws QrmFormatException {
        if (data.length < min) {
            throw new QrmFormatException(what + ": " + data.length + " bytes; min " + min);
        }
    }

    private static void exactly(byte[] data, int size, String what) throws QrmFormatException {
        if (data.length != size) {
            throw new QrmFormatException(what + ": " + data.length + " bytes; want " + size);
        }
    }

    private static Txid txid(byte[] data) {
        return Txid.of(Arrays.copyOfRange(data, TXID_OFFSET, AFTER_TXID_OFFSET));
    }

    private static Batch batch(byte[] data, int offset, String what) throws QrmFormatException {
        try {
            return QrmCodec.decodeBatch(Arrays.copyOfRange(data, offset, data.length));
        } catch (QrmFormatException e) {
            throw new QrmFormatException(what + " " + e.getMessage());
        }
    }
}
