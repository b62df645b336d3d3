package dev.dmsg.wire.qrm;

import static dev.dmsg.wire.qrm.QrmCodec.MAX_MESSAGE_BYTES;
import static dev.dmsg.wire.qrm.QrmCodec.MAX_RESULTS;
import static dev.dmsg.wire.qrm.QrmCodec.VERSION;
import static dev.dmsg.wire.qrm.QrmCodec.bytes;
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
 * The results of docs/QUORUM.md §3.3 (aux of COMMITTED and of a READ reply), little-endian; the
 * public face is {@link QrmCodec}.
 *
 * <pre>
 * 0x00 version u8 = 1   0x01 succeeded u8 (0, 1)   0x02 n_results u16
 * 0x04 result x n_results: type u8, then
 *        PUT: revision u64; DELETE: deleted u64; GET: count u32, more u8 (0, 1), kv x count
 * kv: key_len u16, key, value_len u32, value, create_revision u64, mod_revision u64, version u64
 * </pre>
 */
final class ResultsCodec {
    private ResultsCodec() {}

    static byte[] encode(Results rs) {
        if (rs.results().size() > MAX_RESULTS) {
            throw new IllegalArgumentException("results: " + rs.results().size() + " results; max " + MAX_RESULTS);
        }
        for (int i = 0; i < rs.results().size(); i++) {
            List<KeyValue> kvs = rs.results().get(i).kvs();
            for (int j = 0; j < kvs.size(); j++) {
                checkKv("result " + i + " kv " + j, kvs.get(j));
            }
        }
        long size = bytes(rs);
        checkSize("results", size, MAX_MESSAGE_BYTES);
        byte[] out = new byte[(int) size];
        ByteBuffer w = ByteBuffer.wrap(out).order(ByteOrder.LITTLE_ENDIAN);
        w.put((byte) VERSION).put((byte) (rs.succeeded() ? 1 : 0)).putShort((short) rs.results().size());
        for (OpResult r : rs.results()) {
            w.put((byte) r.type().code);
            switch (r.type()) {
                case PUT -> w.putLong(r.revision());
                case DELETE -> w.putLong(r.deleted());
                case GET -> {
                    w.putInt(r.kvs().size()).put((byte) (r.more() ? 1 : 0));
                    for (KeyValue kv : r.kvs()) {
                        putKv(w, kv);
                    }
                }
            }
        }
        assert !w.hasRemaining();
        return out;
    }

    static Results fit(Results rs, int maxBytes) {
        checkMax(maxBytes);
        long size = bytes(rs);
        if (size <= maxBytes) {
            return rs;
        }
        List<OpResult> out = new ArrayList<>(rs.results());
        for (int i = out.size() - 1; i >= 0 && size > maxBytes; i--) {
            OpResult r = out.get(i);
            if (r.type() != Op.Type.GET || r.kvs().isEmpty()) {
                continue;
            }
            int keep = r.kvs().size();
            while (keep > 0 && size > maxBytes) {
                keep--;
                size -= bytes(r.kvs().get(keep));
            }
            out.set(i, OpResult.got(r.kvs().subList(0, keep), true));
        }
        if (size > maxBytes) {
            throw new IllegalArgumentException("results: " + size + " bytes without any kv; max " + maxBytes);
        }
        return new Results(rs.succeeded(), out);
    }

    static Results decode(ByteBuf aux) throws QrmFormatException {
        QrmReader r = new QrmReader(aux, "results");
        r.version();
        boolean succeeded = r.bool("results", "succeeded");
        int n = r.u16("results", "n_results");
        if (n > MAX_RESULTS) {
            throw QrmReader.fail("results", n + " results; max " + MAX_RESULTS);
        }
        List<OpResult> results = new ArrayList<>(Math.min(n, 16));
        for (int i = 0; i < n; i++) {
            String where = "result " + i;
            int t = r.u8(where, "type");
            Op.Type type = Op.Type.of(t);
            if (type == null) {
                throw QrmReader.fail(where, "unknown type " + t);
            }
            switch (type) {
                case PUT -> results.add(OpResult.put(r.u64(where, "revision")));
                case DELETE -> results.add(OpResult.deleted(r.u64(where, "deleted")));
                case GET -> {
                    long count = r.u32(where, "count");
                    boolean more = r.bool(where, "more");
                    // No presizing by count: the list grows only as kvs are read, and each takes
                    // at least 31 bytes of the input.
                    List<KeyValue> kvs = new ArrayList<>();
                    for (long j = 0; j < count; j++) {
                        kvs.add(r.kv(where + " kv " + j));
                    }
                    results.add(OpResult.got(kvs, more));
                }
            }
        }
        r.end();
        return new Results(succeeded, results);
    }
}
