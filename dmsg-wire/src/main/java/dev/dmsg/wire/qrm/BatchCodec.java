package dev.dmsg.wire.qrm;

import static dev.dmsg.wire.qrm.QrmCodec.ABSENT;
import static dev.dmsg.wire.qrm.QrmCodec.HEADER_BYTES;
import static dev.dmsg.wire.qrm.QrmCodec.MAX_COMPARES;
import static dev.dmsg.wire.qrm.QrmCodec.MAX_MESSAGE_BYTES;
import static dev.dmsg.wire.qrm.QrmCodec.MAX_OPS;
import static dev.dmsg.wire.qrm.QrmCodec.PREFIX;
import static dev.dmsg.wire.qrm.QrmCodec.VERSION;
import static dev.dmsg.wire.qrm.QrmCodec.bytes;
import static dev.dmsg.wire.qrm.QrmCodec.check;
import static dev.dmsg.wire.qrm.QrmCodec.checkSize;
import static dev.dmsg.wire.qrm.QrmCodec.keyProblem;
import static dev.dmsg.wire.qrm.QrmCodec.putBlob16;
import static dev.dmsg.wire.qrm.QrmCodec.putBlob32;
import static dev.dmsg.wire.qrm.QrmCodec.valueProblem;

import io.netty.buffer.ByteBuf;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;

/**
 * The batch of docs/QUORUM.md §3.3 (aux of PREPARE, READ and a watch request), little-endian;
 * the public face is {@link QrmCodec}.
 *
 * <pre>
 * 0x00 version u8 = 1   0x01 reserved u8 = 0   0x02 n_compares u16   0x04 n_success u16   0x06 n_failure u16
 * 0x08 compare x n_compares: target u8 (1..5), result u8, key_len u16, key, then
 *        VALUE: value_len u32 (0xFFFFFFFF: absent), value; others: number u64
 *      op x (n_success + n_failure): type u8, flags u8 (0x01 PREFIX), key_len u16, key, then
 *        PUT: value_len u32, value; GET: limit u32; DELETE: nothing
 * </pre>
 */
final class BatchCodec {
    private BatchCodec() {}

    static byte[] encode(Batch b) {
        if (b.compares().size() > MAX_COMPARES) {
            throw new IllegalArgumentException("batch: " + b.compares().size() + " compares; max " + MAX_COMPARES);
        }
        int ops = b.success().size() + b.failure().size();
        if (ops > MAX_OPS) {
            throw new IllegalArgumentException("batch: " + ops + " ops; max " + MAX_OPS);
        }
        long size = HEADER_BYTES;
        for (int i = 0; i < b.compares().size(); i++) {
            Compare c = b.compares().get(i);
            check("compare " + i, keyProblem(c.key().length(), false));
            if (c.value() != null) {
                check("compare " + i, valueProblem(c.value().length()));
            }
            size += bytes(c);
        }
        size += checkOps("success", b.success()) + checkOps("failure", b.failure());
        checkSize("batch", size, MAX_MESSAGE_BYTES);

        byte[] out = new byte[(int) size];
        ByteBuffer w = ByteBuffer.wrap(out).order(ByteOrder.LITTLE_ENDIAN);
        w.put((byte) VERSION).put((byte) 0);
        w.putShort((short) b.compares().size()).putShort((short) b.success().size())
            .putShort((short) b.failure().size());
        for (Compare c : b.compares()) {
            w.put((byte) c.target().code).put((byte) c.result().code);
            putBlob16(w, c.key());
            if (c.target() == Compare.Target.VALUE) {
                if (c.value() == null) {
                    w.putInt((int) ABSENT);
                } else {
                    putBlob32(w, c.value());
                }
            } else {
                w.putLong(c.number());
            }
        }
        for (List<Op> branch : List.of(b.success(), b.failure())) {
            for (Op o : branch) {
                w.put((byte) o.type().code).put((byte) (o.prefix() ? PREFIX : 0));
                putBlob16(w, o.key());
                switch (o.type()) {
                    case PUT -> putBlob32(w, o.value());
                    case GET -> w.putInt(o.limit());
                    case DELETE -> { }
                }
            }
        }
        assert !w.hasRemaining();
        return out;
    }

    private static long checkOps(String branch, List<Op> ops) {
        long size = 0;
        for (int i = 0; i < ops.size(); i++) {
            Op o = ops.get(i);
            check(branch + " op " + i, keyProblem(o.key().length(), o.prefix()));
            if (o.value() != null) {
                check(branch + " op " + i, valueProblem(o.value().length()));
            }
            size += bytes(o);
        }
        return size;
    }

    static Batch decode(ByteBuf aux) throws QrmFormatException {
        QrmReader r = new QrmReader(aux, "batch");
        r.version();
        r.reserved();
        int nCompares = r.u16("batch", "n_compares");
        int nSuccess = r.u16("batch", "n_success");
        int nFailure = r.u16("batch", "n_failure");
        if (nCompares > MAX_COMPARES) {
            throw QrmReader.fail("batch", nCompares + " compares; max " + MAX_COMPARES);
        }
        if (nSuccess + nFailure > MAX_OPS) {
            throw QrmReader.fail("batch", (nSuccess + nFailure) + " ops; max " + MAX_OPS);
        }
        List<Compare> compares = new ArrayList<>(Math.min(nCompares, 16));
        for (int i = 0; i < nCompares; i++) {
            compares.add(readCompare(r, "compare " + i));
        }
        List<Op> success = readOps(r, "success", nSuccess);
        List<Op> failure = readOps(r, "failure", nFailure);
        r.end();
        return new Batch(compares, success, failure);
    }

    private static Compare readCompare(QrmReader r, String where) throws QrmFormatException {
        int t = r.u8(where, "target");
        Compare.Target target = Compare.Target.of(t);
        if (target == null) {
            throw QrmReader.fail(where, "unknown target " + t);
        }
        int c = r.u8(where, "result");
        Compare.Result result = Compare.Result.of(c);
        if (result == null) {
            throw QrmReader.fail(where, "unknown result " + c);
        }
        Blob key = r.key(where, false);
        if (target == Compare.Target.VALUE) {
            long len = r.u32(where, "value_len");
            return Compare.value(key, result, len == ABSENT ? null : r.checkedValue(where, len));
        }
        long number = r.u64(where, "number");
        if (target == Compare.Target.LOCK && result != Compare.Result.EQUAL && result != Compare.Result.NOT_EQUAL) {
            throw QrmReader.fail(where, "a LOCK compare is EQUAL or NOT_EQUAL");
        }
        return Compare.number(target, key, result, number);
    }

    private static List<Op> readOps(QrmReader r, String branch, int n) throws QrmFormatException {
        List<Op> ops = new ArrayList<>(Math.min(n, 16));
        for (int i = 0; i < n; i++) {
            ops.add(readOp(r, branch + " op " + i));
        }
        return ops;
    }

    private static Op readOp(QrmReader r, String where) throws QrmFormatException {
        int t = r.u8(where, "type");
        Op.Type type = Op.Type.of(t);
        if (type == null) {
            throw QrmReader.fail(where, "unknown type " + t);
        }
        int flags = r.u8(where, "flags");
        if ((flags & ~PREFIX) != 0) {
            throw QrmReader.fail(where, String.format("flags 0x%02x; only PREFIX (0x01) is defined", flags));
        }
        boolean prefix = flags == PREFIX;
        if (prefix && type == Op.Type.PUT) {
            throw QrmReader.fail(where, "PREFIX on a PUT");
        }
        Blob key = r.key(where, prefix);
        switch (type) {
            case PUT:
                return Op.put(key, r.value(where));
            case DELETE:
                return new Op(type, prefix, key, null, 0);
            default:
                long limit = r.u32(where, "limit");
                if (limit > Integer.MAX_VALUE) {
                    // Java holds the limit in an int; no store answers more than 10,000 per reply anyway (§2).
                    throw QrmReader.fail(where, "limit " + limit + "; max " + Integer.MAX_VALUE);
                }
                return new Op(type, prefix, key, null, (int) limit);
        }
    }
}
