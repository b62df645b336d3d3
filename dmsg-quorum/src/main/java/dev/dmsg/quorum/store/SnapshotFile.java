package dev.dmsg.quorum.store;

import dev.dmsg.quorum.cac.CacEntries;
import dev.dmsg.quorum.cac.CacFormatException;
import dev.dmsg.quorum.cac.LockTable;
import dev.dmsg.wire.qrm.Batch;
import dev.dmsg.wire.qrm.Blob;
import dev.dmsg.wire.qrm.QrmCodec;
import dev.dmsg.wire.qrm.QrmFormatException;
import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.zip.CRC32C;

/**
 * The state machine's snapshot (docs/QUORUM.md §2): the whole {@link KvState} — store, revision,
 * prepared table — but not the watch history. Little-endian:
 *
 * <pre>
 * 0x00 8  magic "DMSGQKV1"
 * 0x08 u32 version 1 ; 0x0C u32 reserved 0
 * 0x10 u64 term ; 0x18 u64 index       the last applied entry the state includes
 * 0x20 u64 body_bytes
 * 0x28 u32 body_crc32c ; 0x2C u32 header_crc32c (of 0x00..0x2B)
 * 0x30 body:
 *   u64 revision ; u64 n_keys
 *   key × n_keys (strictly increasing): u16 key_len ; key ; u32 value_len ; value ;
 *                                       u64 create_revision ; u64 mod_revision ; u64 version
 *   u32 n_prepared
 *   prepared × n (in prepare order): txid[16] ; u64 index ; u32 lease_ms ; u8 held ;
 *                                    u32 batch_len ; batch (§3.3)
 *   (version 2 on) u32 n_locks
 *   lock × n (by id): u32 lock_len ; lock (docs/CAC.md §5, CacEntries.encodeLock)
 * </pre>
 *
 * Version 1 (before locks) is still read, as a state with no locks.
 *
 * Written as a stream through a small buffer (the store may be hundreds of MB), to a temporary
 * file renamed into place once whole and synced; read back in one pass, every length checked
 * before it is allocated, and refused ({@link SnapshotCorruptException}) if anything is off.
 */
final class SnapshotFile {
    private SnapshotFile() {}

    static final byte[] MAGIC = "DMSGQKV1".getBytes(StandardCharsets.US_ASCII);
    static final int VERSION = 2;
    static final int OLDEST_VERSION = 1;
    static final int HEADER_BYTES = 0x30;
    static final int BODY_CRC_OFFSET = 0x28;
    static final int HEADER_CRC_OFFSET = 0x2C;
    private static final int BUFFER_BYTES = 1 << 16;
    /** The least a key takes in the body: u16 + 1 byte + u32 + three u64. */
    private static final int MIN_KEY_BYTES = 2 + 1 + 4 + 24;

    /** What a snapshot holds. */
    record Restored(long term, long index, KvState state) {}

    /** Writes {@code s} as of entry (term, index) to {@code file}, atomically (temp file, sync, rename). */
    static void write(KvState s, long term, long index, Path file) throws IOException {
        Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
        try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING,
                StandardOpenOption.WRITE)) {
            ch.position(HEADER_BYTES);
            LeOut out = new LeOut(new BufferedOutputStream(Channels.newOutputStream(ch), BUFFER_BYTES));
            out.u64(s.revision());
            out.u64(s.size());
            for (Map.Entry<Blob, KvStore.Entry> e : s.store().entries().entrySet()) {
                KvStore.Entry v = e.getValue();
                out.u16(e.getKey().length());
                out.bytes(e.getKey().unsafeBytes());
                out.u32(v.value().length());
                out.bytes(v.value().unsafeBytes());
                out.u64(v.createRevision());
                out.u64(v.modRevision());
                out.u64(v.version());
            }
            out.u32(s.preparedCount());
            for (KvState.Prepared p : s.prepared()) {
                out.bytes(p.txid().toBytes());
                out.u64(p.index());
                out.u32(p.leaseMs());
                out.u8(p.held() ? 1 : 0);
                byte[] batch = QrmCodec.encodeBatch(p.batch());
                out.u32(batch.length);
                out.bytes(batch);
            }
            List<LockTable.LockView> locks = s.locks().all();
            out.u32(locks.size());
            for (LockTable.LockView v : locks) {
                byte[] b = CacEntries.encodeLock(v);
                out.u32(b.length);
                out.bytes(b);
            }
            out.flush();
            ByteBuffer h = ByteBuffer.allocate(HEADER_BYTES).order(ByteOrder.LITTLE_ENDIAN);
            h.put(MAGIC).putInt(VERSION).putInt(0).putLong(term).putLong(index).putLong(out.count)
                .putInt((int) out.crc.getValue());
            CRC32C hc = new CRC32C();
            hc.update(h.array(), 0, HEADER_CRC_OFFSET);
            h.putInt((int) hc.getValue()).flip();
            ch.position(0);
            while (h.hasRemaining()) {
                ch.write(h);
            }
            ch.force(true);
        }
        Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    /** The snapshot in {@code file}, as a new state allowing {@code maxPrepared} prepared batches. */
    static Restored read(Path file, int maxPrepared) throws IOException {
        long fileBytes = Files.size(file);
        try (InputStream raw = Files.newInputStream(file)) {
            byte[] hb = raw.readNBytes(HEADER_BYTES);
            if (hb.length < HEADER_BYTES) {
                throw corrupt(file, "header: file is " + fileBytes + " bytes; min " + HEADER_BYTES);
            }
            ByteBuffer h = ByteBuffer.wrap(hb).order(ByteOrder.LITTLE_ENDIAN);
            byte[] magic = new byte[MAGIC.length];
            h.get(magic);
            if (!Arrays.equals(magic, MAGIC)) {
                throw corrupt(file, "magic is not DMSGQKV1");
            }
            CRC32C hc = new CRC32C();
            hc.update(hb, 0, HEADER_CRC_OFFSET);
            int headerCrc = ByteBuffer.wrap(hb, HEADER_CRC_OFFSET, 4).order(ByteOrder.LITTLE_ENDIAN).getInt();
            if (headerCrc != (int) hc.getValue()) {
                throw corrupt(file, String.format("header_crc32c read=0x%08x computed=0x%08x", headerCrc, (int) hc.getValue()));
            }
            int version = h.getInt();
            if (version < OLDEST_VERSION || version > VERSION) {
                throw corrupt(file, "version " + version + "; want " + OLDEST_VERSION + ".." + VERSION);
            }
            h.getInt();
            long term = h.getLong();
            long index = h.getLong();
            long bodyBytes = h.getLong();
            int bodyCrc = h.getInt();
            if (bodyBytes != fileBytes - HEADER_BYTES) {
                throw corrupt(file, "body_bytes " + bodyBytes + " but the file holds " + (fileBytes - HEADER_BYTES));
            }
            LeIn in = new LeIn(new BufferedInputStream(raw, BUFFER_BYTES), bodyBytes, file);
            KvState s = new KvState(maxPrepared);
            long revision = in.u64("revision");
            long nKeys = in.u64("n_keys");
            if (nKeys < 0 || nKeys > bodyBytes / MIN_KEY_BYTES) {
                throw corrupt(file, "n_keys " + Long.toUnsignedString(nKeys) + " cannot fit " + bodyBytes + " bytes");
            }
            Blob last = null;
            for (long i = 0; i < nKeys; i++) {
                Blob key = Blob.wrap(in.bytes(in.u16("key_len"), QrmCodec.MAX_KEY_BYTES, "key " + i));
                if (last != null && key.compareTo(last) <= 0) {
                    throw corrupt(file, "key " + i + " is not after key " + (i - 1));
                }
                Blob value = Blob.wrap(in.bytes(in.u32("value_len"), QrmCodec.MAX_VALUE_BYTES, "value " + i));
                s.store().restorePut(key, new KvStore.Entry(value, in.u64("create_revision"), in.u64("mod_revision"),
                    in.u64("version")));
                last = key;
            }
            s.store().restoreRevision(revision);
            long nPrepared = in.u32("n_prepared");
            if (nPrepared > maxPrepared) {
                throw corrupt(file, "n_prepared " + nPrepared + "; max " + maxPrepared);
            }
            for (long i = 0; i < nPrepared; i++) {
                Txid txid = Txid.of(in.bytes(Txid.BYTES, Txid.BYTES, "txid"));
                long pIndex = in.u64("prepare index");
                long lease = in.u32("lease_ms");
                int held = in.u8("held");
                if (lease > KvState.MAX_LEASE_MS || held > 1) {
                    throw corrupt(file, "prepared " + i + ": lease_ms " + lease + ", held " + held);
                }
                byte[] batch = in.bytes(in.u32("batch_len"), QrmCodec.MAX_MESSAGE_BYTES, "batch " + i);
                try {
                    s.restorePrepared(txid, pIndex, (int) lease, held == 1, QrmCodec.decodeBatch(batch));
                } catch (QrmFormatException | IllegalStateException e) {
                    throw corrupt(file, "prepared " + i + ": " + e.getMessage());
                }
            }
            if (version >= 2) {
                long nLocks = in.u32("n_locks");
                if (nLocks > LockTable.MAX_LOCKS) {
                    throw corrupt(file, "n_locks " + nLocks + "; max " + LockTable.MAX_LOCKS);
                }
                long lastId = Long.MIN_VALUE;
                for (long i = 0; i < nLocks; i++) {
                    byte[] b = in.bytes(in.u32("lock_len"), CacEntries.MAX_LOCK_BYTES, "lock " + i);
                    try {
                        LockTable.LockView v = CacEntries.decodeLock(b);
                        if (v.id() <= lastId) {
                            throw corrupt(file, "lock " + i + " (id " + v.id() + ") is not after the one before");
                        }
                        lastId = v.id();
                        s.locks().restore(v);
                    } catch (CacFormatException e) {
                        throw corrupt(file, e.getMessage());
                    }
                }
            }
            if (in.remaining != 0) {
                throw corrupt(file, in.remaining + " trailing bytes after the " + (version >= 2 ? "lock" : "prepared")
                    + " table");
            }
            if ((int) in.crc.getValue() != bodyCrc) {
                throw corrupt(file, String.format("body_crc32c read=0x%08x computed=0x%08x", bodyCrc, (int) in.crc.getValue()));
            }
            return new Restored(term, index, s);
        }
    }

    static SnapshotCorruptException corrupt(Path file, String what) {
        return new SnapshotCorruptException("snapshot " + file + ": " + what);
    }

    /** Little-endian writes through a buffer, counting bytes and their CRC32C. */
    private static final class LeOut {
        final OutputStream out;
        final CRC32C crc = new CRC32C();
        final byte[] scratch = new byte[8];
        long count;

        LeOut(OutputStream out) {
            this.out = out;
        }

        void u8(int v) throws IOException {
            scratch[0] = (byte) v;
            raw(scratch, 1);
        }

        void u16(int v) throws IOException {
            ByteBuffer.wrap(scratch).order(ByteOrder.LITTLE_ENDIAN).putShort((short) v);
            raw(scratch, 2);
        }

        void u32(long v) throws IOException {
            ByteBuffer.wrap(scratch).order(ByteOrder.LITTLE_ENDIAN).putInt((int) v);
            raw(scratch, 4);
        }

        void u64(long v) throws IOException {
            ByteBuffer.wrap(scratch).order(ByteOrder.LITTLE_ENDIAN).putLong(v);
            raw(scratch, 8);
        }

        void bytes(byte[] b) throws IOException {
            raw(b, b.length);
        }

        private void raw(byte[] b, int n) throws IOException {
            out.write(b, 0, n);
            crc.update(b, 0, n);
            count += n;
        }

        void flush() throws IOException {
            out.flush();
        }
    }

    /** Little-endian reads of at most {@code remaining} bytes, with their CRC32C. */
    private static final class LeIn {
        final InputStream in;
        final CRC32C crc = new CRC32C();
        final byte[] scratch = new byte[8];
        final Path file;
        long remaining;

        LeIn(InputStream in, long remaining, Path file) {
            this.in = in;
            this.remaining = remaining;
            this.file = file;
        }

        private ByteBuffer fixed(int n, String field) throws IOException {
            read(scratch, n, field);
            return ByteBuffer.wrap(scratch, 0, n).order(ByteOrder.LITTLE_ENDIAN);
        }

        int u8(String field) throws IOException {
            return fixed(1, field).get() & 0xFF;
        }

        int u16(String field) throws IOException {
            return fixed(2, field).getShort() & 0xFFFF;
        }

        long u32(String field) throws IOException {
            return fixed(4, field).getInt() & 0xFFFF_FFFFL;
        }

        long u64(String field) throws IOException {
            return fixed(8, field).getLong();
        }

        /** {@code n} bytes, refused before allocating if over {@code max} or past the body. */
        byte[] bytes(long n, int max, String field) throws IOException {
            if (n > max) {
                throw corrupt(file, field + ": " + n + " bytes; max " + max);
            }
            byte[] b = new byte[(int) n];
            read(b, b.length, field);
            return b;
        }

        private void read(byte[] b, int n, String field) throws IOException {
            if (n > remaining) {
                throw corrupt(file, field + ": needs " + n + " bytes, " + remaining + " left");
            }
            int got = in.readNBytes(b, 0, n);
            if (got < n) {
                throw new EOFException("snapshot " + file + ": " + field + ": file shrank while read");
            }
            crc.update(b, 0, n);
            remaining -= n;
        }
    }
}
