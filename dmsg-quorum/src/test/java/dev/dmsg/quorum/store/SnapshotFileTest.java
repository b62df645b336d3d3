package dev.dmsg.quorum.store;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.quicktheories.QuickTheory.qt;

import dev.dmsg.wire.qrm.Batch;
import dev.dmsg.wire.qrm.Blob;
import dev.dmsg.wire.qrm.Op;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@link SnapshotFile} round trips and refusals; determinism of {@link KvState} across members and restores. */
class SnapshotFileTest {
    @TempDir
    Path dir;

    static List<Outcome> feed(KvState s, List<LogEntry> entries, long firstIndex) {
        List<Outcome> out = new ArrayList<>();
        long index = firstIndex;
        for (LogEntry e : entries) {
            out.add(s.apply(index++, e));
        }
        return out;
    }

    static KvState sample() {
        KvState s = new KvState();
        s.write(Batch.of(Op.put(Blob.utf8("/a"), Blob.utf8("1")), Op.put(Blob.utf8("/b"), Blob.EMPTY)));
        s.write(Batch.of(Op.put(Blob.utf8("/a"), Blob.utf8("2")), Op.put(Blob.wrap(new byte[] {0, (byte) 0xff}), Blob.utf8("bin"))));
        s.prepare(7, new Txid(1, 2), 3000, Batch.of(Op.deletePrefix(Blob.utf8("/a"))));
        s.prepare(8, new Txid(3, 4), 0, new Batch(List.of(), List.of(), List.of(Op.get(Blob.utf8("/b")))));
        return s;
    }

    @Test
    void roundTripGivesTheSameStateAndTheSameAnswers() throws IOException {
        KvState s = sample();
        Path f = dir.resolve("snap");
        SnapshotFile.write(s, 3, 9, f);
        SnapshotFile.Restored r = SnapshotFile.read(f, KvState.DEFAULT_MAX_PREPARED);
        assertThat(r.term()).isEqualTo(3);
        assertThat(r.index()).isEqualTo(9);
        assertThat(r.state().sameAs(s)).isTrue();
        assertThat(r.state().revision()).isEqualTo(2);
        assertThat(r.state().preparedCount()).isEqualTo(2);
        List<LogEntry> next = List.of(
            new LogEntry.Write(Batch.of(Op.put(Blob.utf8("/a/x"), Blob.utf8("c")))),   // reserved: CONFLICT
            new LogEntry.Commit(new Txid(1, 2)),
            new LogEntry.Expire(new Txid(3, 4)),
            new LogEntry.Write(Batch.of(Op.put(Blob.utf8("/a/x"), Blob.utf8("c")))));
        assertThat(feed(r.state(), next, 10)).isEqualTo(feed(s, next, 10));
        assertThat(r.state().sameAs(s)).isTrue();
        assertThat(Files.list(dir)).containsExactly(f);
    }

    @Test
    void anEmptyStateRoundTrips() throws IOException {
        Path f = dir.resolve("empty");
        SnapshotFile.write(new KvState(), 0, 0, f);
        assertThat(Files.size(f)).as("revision, n_keys, n_prepared, n_locks").isEqualTo(SnapshotFile.HEADER_BYTES + 8 + 8 + 4 + 4);
        assertThat(SnapshotFile.read(f, 10).state().sameAs(new KvState())).isTrue();
    }

    /** A snapshot written before locks (version 1: no lock table) still loads, as a state with none. */
    @Test
    void aVersion1SnapshotStillLoads() throws IOException {
        Path f = dir.resolve("v2");
        KvState s = sample();
        SnapshotFile.write(s, 3, 9, f);
        byte[] v2 = Files.readAllBytes(f);
        // version 1 is version 2 without the trailing u32 n_locks (0 here), with its own CRCs
        byte[] v1 = java.util.Arrays.copyOf(v2, v2.length - 4);
        java.nio.ByteBuffer h = java.nio.ByteBuffer.wrap(v1).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        java.util.zip.CRC32C body = new java.util.zip.CRC32C();
        body.update(v1, SnapshotFile.HEADER_BYTES, v1.length - SnapshotFile.HEADER_BYTES);
        h.putInt(0x08, 1).putLong(0x20, v1.length - SnapshotFile.HEADER_BYTES).putInt(SnapshotFile.BODY_CRC_OFFSET,
            (int) body.getValue());
        java.util.zip.CRC32C head = new java.util.zip.CRC32C();
        head.update(v1, 0, SnapshotFile.HEADER_CRC_OFFSET);
        h.putInt(SnapshotFile.HEADER_CRC_OFFSET, (int) head.getValue());
        Path old = dir.resolve("v1");
        Files.write(old, v1);
        SnapshotFile.Restored r = SnapshotFile.read(old, KvState.DEFAULT_MAX_PREPARED);
        assertThat(r.state().sameAs(s)).isTrue();
        assertThat(r.state().locks().size()).isZero();
        h.putInt(0x08, 3);
        head.reset();
        head.update(v1, 0, SnapshotFile.HEADER_CRC_OFFSET);
        h.putInt(SnapshotFile.HEADER_CRC_OFFSET, (int) head.getValue());
        Files.write(old, v1);
        assertThatThrownBy(() -> SnapshotFile.read(old, 10)).hasMessageEndingWith("version 3; want 1..2");
    }

    @Test
    void everyDamagedByteAndEveryTruncationIsRefused() throws IOException {
        Path f = dir.resolve("snap");
        SnapshotFile.write(sample(), 3, 9, f);
        byte[] good = Files.readAllBytes(f);
        Path bad = dir.resolve("bad");
        for (int i = 0; i < good.length; i++) {
            byte[] b = good.clone();
            b[i] ^= 0x10;
            Files.write(bad, b);
            int at = i;
            assertThatThrownBy(() -> SnapshotFile.read(bad, KvState.DEFAULT_MAX_PREPARED))
                .as("byte %d", at).isInstanceOf(SnapshotCorruptException.class).hasMessageStartingWith("snapshot " + bad + ": ");
        }
        for (int n = 0; n < good.length; n += 7) {
            Files.write(bad, Arrays.copyOf(good, n));
            assertThatThrownBy(() -> SnapshotFile.read(bad, KvState.DEFAULT_MAX_PREPARED)).isInstanceOf(SnapshotCorruptException.class);
        }
    }

    @Test
    void specificRefusalsNameTheCheck() throws IOException {
        Path f = dir.resolve("snap");
        SnapshotFile.write(sample(), 3, 9, f);
        byte[] good = Files.readAllBytes(f);
        byte[] body = good.clone();
        int firstKeyLen = (good[SnapshotFile.HEADER_BYTES + 16] & 0xFF) | (good[SnapshotFile.HEADER_BYTES + 17] & 0xFF) << 8;
        body[SnapshotFile.HEADER_BYTES + 16 + 2 + firstKeyLen + 4] ^= 1; // the first value's first byte: opaque
        Files.write(f, body);
        assertThatThrownBy(() -> SnapshotFile.read(f, 100)).hasMessageContaining("body_crc32c read=0x");
        byte[] magic = good.clone();
        magic[0] = 'X';
        Files.write(f, magic);
        assertThatThrownBy(() -> SnapshotFile.read(f, 100)).hasMessageEndingWith("magic is not DMSGQKV1");
        Files.write(f, good);
        assertThatThrownBy(() -> SnapshotFile.read(f, 1)).hasMessageEndingWith("n_prepared 2; max 1");
    }

    /**
     * Determinism: two members fed the same random entries end equal and answer alike; a third
     * that restores a snapshot taken midway and applies the rest ends equal too.
     */
    @Test
    void membersFedTheSameEntriesEndEqual_acrossASnapshot() {
        Set<Class<?>> seen = ConcurrentHashMap.newKeySet();
        qt().withExamples(300).forAll(RandomEntries.entries(60), RandomEntries.entries(60)).checkAssert((first, rest) -> {
            try {
                KvState a = new KvState(4);
                KvState b = new KvState(4);
                List<LogEntry> all = new ArrayList<>(first);
                all.addAll(rest);
                List<Outcome> outA = feed(a, all, 1);
                outA.forEach(o -> seen.add(o.getClass()));
                assertThat(feed(b, all, 1)).isEqualTo(outA);
                assertThat(b.sameAs(a)).isTrue();

                KvState c = new KvState(4);
                feed(c, first, 1);
                Path f = Files.createTempFile(dir, "snap", "");
                SnapshotFile.write(c, 1, first.size(), f);
                KvState restored = SnapshotFile.read(f, 4).state();
                assertThat(feed(restored, rest, first.size() + 1)).isEqualTo(outA.subList(first.size(), all.size()));
                assertThat(restored.sameAs(a)).isTrue();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        });
        // the generator reaches every outcome, so the property is not about trivial sequences
        assertThat(seen).contains(Outcome.Done.class, Outcome.Prepared.class, Outcome.Conflict.class,
            Outcome.NotPrepared.class, Outcome.Aborted.class, Outcome.Limit.class);
    }
}
