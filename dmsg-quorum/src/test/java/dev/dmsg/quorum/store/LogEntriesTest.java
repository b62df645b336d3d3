package dev.dmsg.quorum.store;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.dmsg.wire.qrm.Batch;
import dev.dmsg.wire.qrm.Blob;
import dev.dmsg.wire.qrm.KeyValue;
import dev.dmsg.wire.qrm.Op;
import dev.dmsg.wire.qrm.OpResult;
import dev.dmsg.wire.qrm.QrmFormatException;
import dev.dmsg.wire.qrm.Results;
import java.io.ByteArrayOutputStream;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Golden bytes of the log entries and outcomes (docs/QUORUM.md §4.1), written field by field. */
class LogEntriesTest {
    static final Txid TXID = new Txid(0x0102030405060708L, 0x090a0b0c0d0e0f10L);

    static byte[] bytes(int... v) {
        ByteArrayOutputStream o = new ByteArrayOutputStream();
        for (int x : v) {
            o.write(x);
        }
        return o.toByteArray();
    }

    static byte[] cat(byte[]... parts) {
        ByteArrayOutputStream o = new ByteArrayOutputStream();
        for (byte[] p : parts) {
            o.writeBytes(p);
        }
        return o.toByteArray();
    }

    static final byte[] TXID_BYTES = bytes(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16);

    /** PUT "/a" = "x", as §3.3 lays it out. */
    static final Batch PUT_A = Batch.of(Op.put(Blob.utf8("/a"), Blob.utf8("x")));
    static final byte[] PUT_A_BYTES = bytes(
        1, 0,             // version, reserved
        0, 0, 1, 0, 0, 0, // n_compares 0, n_success 1, n_failure 0
        1, 0,             // PUT, flags
        2, 0, '/', 'a',   // key_len, key
        1, 0, 0, 0, 'x'); // value_len, value

    static void golden(LogEntry e, byte[] want) throws QrmFormatException {
        assertThat(LogEntries.encode(e)).isEqualTo(want);
        assertThat(LogEntries.decode(want)).isEqualTo(e);
    }

    @Test
    void prepare() throws Exception {
        golden(new LogEntry.Prepare(TXID, 2500, PUT_A), cat(
            bytes(1, 1),             // kind PREPARE, version
            TXID_BYTES,
            bytes(0xc4, 0x09, 0, 0), // lease_ms 2500
            PUT_A_BYTES));
    }

    @Test
    void commitAbortExpireWrite() throws Exception {
        golden(new LogEntry.Commit(TXID), cat(bytes(2, 1), TXID_BYTES));
        golden(new LogEntry.Abort(TXID, LogEntry.Why.LOST_INITIATOR), cat(bytes(3, 1), TXID_BYTES, bytes(2)));
        golden(new LogEntry.Expire(TXID), cat(bytes(4, 1), TXID_BYTES));
        golden(new LogEntry.Write(PUT_A), cat(bytes(5, 1), PUT_A_BYTES));
    }

    @Test
    void badEntriesAreRefusedNamingTheField() {
        record Bad(byte[] data, String message) {}
        List<Bad> bad = List.of(
            new Bad(bytes(2), "log entry: 1 bytes; min 2 (kind, version)"),
            new Bad(bytes(2, 2), "log entry: version 2; want 1"),
            new Bad(bytes(9, 1), "log entry: kind 9; want 1..5 or 10..16"),
            new Bad(cat(bytes(2, 1), TXID_BYTES, bytes(0)), "COMMIT: 19 bytes; want 18"),
            new Bad(cat(bytes(4, 1), bytes(1, 2)), "EXPIRE: 4 bytes; want 18"),
            new Bad(cat(bytes(3, 1), TXID_BYTES, bytes(7)), "ABORT: why 7; want 1 or 2"),
            new Bad(cat(bytes(1, 1), TXID_BYTES, bytes(0x61, 0xea, 0, 0), PUT_A_BYTES), "PREPARE: lease_ms 60001; max 60000"),
            new Bad(cat(bytes(1, 1), TXID_BYTES, bytes(0, 0)), "PREPARE: 20 bytes; min 22"));
        for (Bad b : bad) {
            assertThatThrownBy(() -> LogEntries.decode(b.data())).isInstanceOf(QrmFormatException.class).hasMessage(b.message());
        }
        byte[] trailing = cat(bytes(5, 1), PUT_A_BYTES, bytes(0));
        assertThatThrownBy(() -> LogEntries.decode(trailing)).isInstanceOf(QrmFormatException.class).hasMessageStartingWith("WRITE ");
    }

    static void golden(Outcome o, byte[] want) throws QrmFormatException {
        assertThat(Outcomes.encode(o)).isEqualTo(want);
        assertThat(Outcomes.decode(want)).isEqualTo(o);
    }

    @Test
    void outcomes() throws Exception {
        Results rs = new Results(true, List.of(OpResult.put(7),
            OpResult.got(List.of(new KeyValue(Blob.utf8("k"), Blob.utf8("v"), 3, 7, 2)), false)));
        golden(new Outcome.Done(7, rs), bytes(
            0,                        // OK
            7, 0, 0, 0, 0, 0, 0, 0,   // revision 7
            1, 1, 2, 0,               // results: version, succeeded, n_results 2
            1, 7, 0, 0, 0, 0, 0, 0, 0,                     // PUT revision 7
            3, 1, 0, 0, 0, 0,                              // GET count 1, more 0
            1, 0, 'k', 1, 0, 0, 0, 'v',                    // kv key, value
            3, 0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0));
        golden(new Outcome.Conflict(812, Blob.utf8("/a")), bytes(1, 0x2c, 3, 0, 0, 0, 0, 0, 0, 2, 0, '/', 'a'));
        golden(new Outcome.NotPrepared(), bytes(2));
        golden(new Outcome.Limit(), bytes(3));
        golden(new Outcome.Prepared(true, 5), bytes(4, 1, 5, 0, 0, 0, 0, 0, 0, 0));
        golden(new Outcome.Prepared(false, 0x0102), bytes(4, 0, 2, 1, 0, 0, 0, 0, 0, 0));
        golden(new Outcome.Aborted(), bytes(5));
        golden(new Outcome.Invalid("no"), bytes(6, 2, 0, 'n', 'o'));
        assertThat(Outcomes.encode(new Outcome.Invalid("x".repeat(1000)))).hasSize(1 + 2 + 256);
    }

    @Test
    void badOutcomesAreRefused() {
        assertThatThrownBy(() -> Outcomes.decode(bytes())).hasMessage("outcome: empty");
        assertThatThrownBy(() -> Outcomes.decode(bytes(9))).hasMessage("outcome: code 9; want 0..7");
        assertThatThrownBy(() -> Outcomes.decode(bytes(2, 0))).hasMessage("outcome 2: 1 trailing bytes");
        assertThatThrownBy(() -> Outcomes.decode(bytes(4, 1, 5))).hasMessage("outcome 4: truncated at 3 bytes");
        assertThatThrownBy(() -> Outcomes.decode(bytes(4, 2, 5, 0, 0, 0, 0, 0, 0, 0))).hasMessage("PREPARED: held 2; want 0 or 1");
        assertThatThrownBy(() -> Outcomes.decode(bytes(1, 0, 0, 0, 0, 0, 0, 0, 0, 5, 0, 'a'))).hasMessage("outcome 1: truncated at 12 bytes");
    }
}
