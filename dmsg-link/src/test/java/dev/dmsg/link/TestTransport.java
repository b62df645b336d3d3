package dev.dmsg.link;

import dev.dmsg.wire.Message;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;

/**
 * A {@link Transport} for driving an {@link Iocom} from a test, on the test's thread: it is the
 * event loop. Written messages are kept (retained until {@link #release}); executed tasks queue
 * until {@link #runPending()}, so flush batching is observable. Exported in dmsg-link's test-jar.
 */
public final class TestTransport implements Transport {
    final List<Message> written = new ArrayList<>();
    final ArrayDeque<Runnable> tasks = new ArrayDeque<>();
    int flushes;
    int closes;
    boolean writable = true;
    long backlog;
    private Consumer<Message> onWrite = m -> { };

    @Override
    public void write(Message m) {
        onWrite.accept(m);
        written.add(m);
    }

    /** {@code hook} sees every message as it is written: what else holds at that moment. */
    public void onWrite(Consumer<Message> hook) {
        onWrite = hook;
    }

    @Override
    public void flush() {
        flushes++;
    }

    @Override
    public void close() {
        closes++;
    }

    @Override
    public boolean isWritable() {
        return writable;
    }

    @Override
    public long outboundBacklogBytes() {
        return backlog;
    }

    @Override
    public boolean inEventLoop() {
        return true;
    }

    @Override
    public void execute(Runnable task) {
        tasks.add(task);
    }

    boolean readPaused;

    @Override
    public void setReadPaused(boolean paused) {
        readPaused = paused;
    }

    @Override
    public String remoteAddress() {
        return "peer:1";
    }

    public void runPending() {
        Runnable r;
        while ((r = tasks.poll()) != null) {
            r.run();
        }
    }

    /** Removes and returns what was written since the last call. */
    public List<Message> take() {
        List<Message> out = new ArrayList<>(written);
        written.clear();
        return out;
    }

    public void release() {
        written.forEach(Message::release);
        written.clear();
    }
}
