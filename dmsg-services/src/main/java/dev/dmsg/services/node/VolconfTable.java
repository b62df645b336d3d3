package dev.dmsg.services.node;

import dev.dmsg.wire.Dmsg;
import dev.dmsg.wire.VolData;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.BiConsumer;

/**
 * A node's VOLCONF table (docs/REFERENCE.md §3.6, docs/PROFILE.md §7): 256 {@code dmsg_vol_data} slots, persisted
 * in the data directory as {@code volconf.bin} — 256 × 128 bytes, each slot exactly as on the wire
 * — written to a temporary file and renamed over the old one, so a crash leaves the old table or
 * the new one, never half of each; a write that fails (a full disk) leaves the old table and no
 * temporary file. Thread-safe; listeners run on the thread that made the change.
 */
public final class VolconfTable {
    public static final String FILE = "volconf.bin";

    /** Writes a file's bytes: {@link Files#write}, or a test's failing disk. */
    @FunctionalInterface
    interface FileWriter {
        void write(Path path, byte[] bytes) throws IOException;
    }

    private final Path file;
    private final FileWriter writer;
    private final VolData[] slots = new VolData[Dmsg.COPYID_COUNT];
    private final List<BiConsumer<Integer, VolData>> listeners = new ArrayList<>();

    private VolconfTable(Path file, FileWriter writer) {
        this.file = file;
        this.writer = writer;
        Arrays.fill(slots, VolData.EMPTY);
    }

    /** Loads the table from {@code dataDir}, or starts an empty one (written on the first change). */
    public static VolconfTable open(Path dataDir) throws IOException {
        return open(dataDir, (path, bytes) -> Files.write(path, bytes));
    }

    /** {@link #open(Path)} writing through {@code writer} (a test's failing disk). */
    static VolconfTable open(Path dataDir, FileWriter writer) throws IOException {
        VolconfTable t = new VolconfTable(dataDir.resolve(FILE), writer);
        if (Files.exists(t.file)) {
            byte[] bytes = Files.readAllBytes(t.file);
            if (bytes.length != Dmsg.COPYID_COUNT * VolData.BYTES) {
                throw new IOException(t.file + ": " + bytes.length + " bytes; a VOLCONF table is "
                    + Dmsg.COPYID_COUNT * VolData.BYTES + " (256 slots of 128)");
            }
            ByteBuf b = Unpooled.wrappedBuffer(bytes);
            try {
                for (int i = 0; i < Dmsg.COPYID_COUNT; i++) {
                    t.slots[i] = VolData.read(b, i * VolData.BYTES);
                }
            } catch (IllegalArgumentException e) {
                throw new IOException(t.file + ": corrupt slot: " + e.getMessage(), e);
            } finally {
                b.release();
            }
        }
        return t;
    }

    public synchronized VolData get(int index) {
        return slots[checkIndex(index)];
    }

    public synchronized List<VolData> slots() {
        return List.of(slots.clone());
    }

    /** Sets slot {@code index}, persists the table, then tells the listeners (if it changed). */
    public void set(int index, VolData v) throws IOException {
        checkIndex(index);
        List<BiConsumer<Integer, VolData>> tell;
        synchronized (this) {
            if (slots[index].equals(v)) {
                return;
            }
            VolData old = slots[index];
            slots[index] = v;
            try {
                save();
            } catch (IOException e) {
                slots[index] = old;
                throw e;
            }
            tell = List.copyOf(listeners);
        }
        tell.forEach(l -> l.accept(index, v));
    }

    /** The first slot 1..255 whose copyid is 0 (as {@code hammer2 connect} picks), or -1. */
    public synchronized int firstFree() {
        for (int i = 1; i < Dmsg.COPYID_COUNT; i++) {
            if (slots[i].copyid() == 0) {
                return i;
            }
        }
        return -1;
    }

    /** Called with (index, new value) after each change. */
    public synchronized void onChange(BiConsumer<Integer, VolData> listener) {
        listeners.add(listener);
    }

    public static boolean enabled(VolData v) {
        return v.copyid() != 0 && (v.flags() & Dmsg.VOLF_ENABLED) != 0;
    }

    private void save() throws IOException {
        ByteBuf b = Unpooled.buffer(Dmsg.COPYID_COUNT * VolData.BYTES);
        try {
            b.writeZero(Dmsg.COPYID_COUNT * VolData.BYTES);
            for (int i = 0; i < Dmsg.COPYID_COUNT; i++) {
                slots[i].write(b, i * VolData.BYTES);
            }
            Files.createDirectories(file.getParent());
            Path tmp = file.resolveSibling(FILE + ".tmp");
            try {
                writer.write(tmp, ByteBufUtil.getBytes(b));
                try {
                    Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
                } catch (AtomicMoveNotSupportedException e) {
                    Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING);
                }
            } catch (IOException | UncheckedIOException e) {
                // ENOSPC after the create leaves an empty or partial tmp file: not ours to keep
                try {
                    Files.deleteIfExists(tmp);
                } catch (IOException cleanup) {
                    e.addSuppressed(cleanup);
                }
                throw e;
            }
        } catch (UncheckedIOException e) {
            throw e.getCause();
        } finally {
            b.release();
        }
    }

    private static int checkIndex(int index) {
        if (index < 0 || index >= Dmsg.COPYID_COUNT) {
            throw new IllegalArgumentException("VOLCONF index " + index + " is not 0..255");
        }
        return index;
    }
}
