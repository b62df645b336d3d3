package dev.dmsg.testkit;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.Deque;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The write model can fail: a device that keeps issue order matches it, one that lets a later
 * write be overtaken by an earlier one (the bug the model is there to catch) does not.
 */
@Timeout(30)
class WriteModelTest {
    static final int SIZE = 1 << 20;

    /** A memory device; {@code reorder} applies each pair of writes in the wrong order. */
    static final class Memory implements WriteModel.Device {
        final byte[] bytes = new byte[SIZE];
        final boolean reorder;
        final Deque<Runnable> held = new ArrayDeque<>();

        Memory(boolean reorder) {
            this.reorder = reorder;
        }

        @Override
        public CompletableFuture<?> write(long offset, int length, byte[] data) {
            Runnable apply = () -> {
                if (data == null) {
                    Arrays.fill(bytes, (int) offset, (int) offset + length, (byte) 0);
                } else {
                    System.arraycopy(data, 0, bytes, (int) offset, length);
                }
            };
            if (!reorder) {
                apply.run();
            } else if (held.isEmpty()) {
                held.push(apply);
            } else {
                apply.run();
                held.pop().run(); // the earlier write lands last
            }
            return CompletableFuture.completedFuture(null);
        }
    }

    @Test
    void aDeviceThatKeepsIssueOrderEndsEqualToTheModel() throws Exception {
        Memory m = new Memory(false);
        WriteModel w = new WriteModel(m, SIZE, 42, 8);
        for (int i = 0; i < 2000; i++) {
            w.issueOne();
        }
        w.awaitAll(Duration.ofSeconds(1));
        assertThat(w.errors()).isEmpty();
        assertThat(w.acked()).isEqualTo(2000);
        assertThat(Arrays.mismatch(m.bytes, w.model())).isEqualTo(-1);
    }

    @Test
    void aDeviceThatReordersOverlappingWritesDiffersFromTheModel() throws Exception {
        Memory m = new Memory(true);
        WriteModel w = new WriteModel(m, SIZE, 42, 8);
        for (int i = 0; i < 2000; i++) {
            w.issueOne();
        }
        assertThat(Arrays.mismatch(m.bytes, w.model())).as("the broken device is caught").isNotEqualTo(-1);
    }

    @Test
    void failedWritesAreKept() throws Exception {
        WriteModel w = new WriteModel((o, l, d) -> CompletableFuture.failedFuture(new IllegalStateException("gone")),
            SIZE, 1, 4);
        w.issueOne();
        w.awaitAll(Duration.ofSeconds(1));
        assertThat(w.errors()).hasSize(1).first().hasFieldOrPropertyWithValue("message", "gone");
    }
}
