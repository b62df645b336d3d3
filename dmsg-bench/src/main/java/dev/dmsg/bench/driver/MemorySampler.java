package dev.dmsg.bench.driver;

import com.sun.management.GarbageCollectionNotificationInfo;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.util.internal.PlatformDependent;
import java.lang.management.BufferPoolMXBean;
import java.lang.management.GarbageCollectorMXBean;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryPoolMXBean;
import java.lang.management.MemoryType;
import java.lang.management.MemoryUsage;
import java.util.ArrayList;
import java.util.List;
import javax.management.Notification;
import javax.management.NotificationEmitter;
import javax.management.openmbean.CompositeData;

/**
 * Samples this JVM's memory every {@link #PERIOD_MILLIS} on a daemon thread, keeping the maxima
 * since the last {@link #reset()}, per second.
 *
 * <ul>
 *   <li><b>heap</b>: heap used, garbage included: what the process holds, mostly a matter of how
 *       far the collector lets the young generation fill;
 *   <li><b>live</b>: heap used right after the latest collection (from the collectors'
 *       notifications): what survived. Anything queued without bound ends up here;
 *   <li><b>direct</b>: off-heap memory reserved: Netty's own counter when it allocates without a
 *       cleaner plus the JDK's direct buffer pool otherwise (its pooled arenas live in one or the
 *       other). Arenas keep their chunks, so this is a high-water mark of the whole process;
 *   <li><b>pinned</b>: direct memory held by live buffers of the pooled allocator right now
 *       ({@code PooledByteBufAllocator.pinnedDirectMemory}): the buffers actually in flight.
 * </ul>
 */
final class MemorySampler {
    static final long PERIOD_MILLIS = 10;

    /** Maxima over a second (or a run), bytes. */
    record Peak(long heap, long live, long direct, long pinned) {
        Peak max(Peak o) {
            return new Peak(Math.max(heap, o.heap), Math.max(live, o.live), Math.max(direct, o.direct),
                Math.max(pinned, o.pinned));
        }

        static final Peak ZERO = new Peak(0, 0, 0, 0);

        /** {@code heap:live:direct:pinned} in KiB, for the text protocol. */
        String encode() {
            return heap / 1024 + ":" + live / 1024 + ":" + direct / 1024 + ":" + pinned / 1024;
        }

        static Peak decode(String s) {
            String[] p = s.split(":");
            return new Peak(Long.parseLong(p[0]) * 1024, Long.parseLong(p[1]) * 1024, Long.parseLong(p[2]) * 1024,
                Long.parseLong(p[3]) * 1024);
        }
    }

    private final BufferPoolMXBean directPool;
    private volatile long liveAfterGc = heapUsed();
    private long startNanos;
    private final List<Peak> perSecond = new ArrayList<>();

    MemorySampler() {
        BufferPoolMXBean d = null;
        for (BufferPoolMXBean b : ManagementFactory.getPlatformMXBeans(BufferPoolMXBean.class)) {
            if (b.getName().equals("direct")) {
                d = b;
            }
        }
        directPool = d;
        for (GarbageCollectorMXBean gc : ManagementFactory.getGarbageCollectorMXBeans()) {
            if (gc instanceof NotificationEmitter e) {
                e.addNotificationListener((n, hb) -> onGc(n), null, null);
            }
        }
        reset();
        Thread t = new Thread(this::loop, "memory-sampler");
        t.setDaemon(true);
        t.start();
    }

    private void onGc(Notification n) {
        if (!GarbageCollectionNotificationInfo.GARBAGE_COLLECTION_NOTIFICATION.equals(n.getType())) {
            return;
        }
        GarbageCollectionNotificationInfo info = GarbageCollectionNotificationInfo.from((CompositeData) n.getUserData());
        long after = 0;
        for (MemoryPoolMXBean p : ManagementFactory.getMemoryPoolMXBeans()) {
            MemoryUsage u = p.getType() == MemoryType.HEAP ? info.getGcInfo().getMemoryUsageAfterGc().get(p.getName()) : null;
            if (u != null) {
                after += u.getUsed();
            }
        }
        liveAfterGc = after;
    }

    static long heapUsed() {
        return ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed();
    }

    long directUsed() {
        return Math.max(0, PlatformDependent.usedDirectMemory()) + (directPool == null ? 0 : directPool.getMemoryUsed());
    }

    static long pinnedDirect() {
        return PooledByteBufAllocator.DEFAULT.pinnedDirectMemory();
    }

    Peak now() {
        return new Peak(heapUsed(), liveAfterGc, directUsed(), pinnedDirect());
    }

    synchronized void reset() {
        startNanos = System.nanoTime();
        perSecond.clear();
        perSecond.add(now());
    }

    private void loop() {
        while (true) {
            try {
                Thread.sleep(PERIOD_MILLIS);
            } catch (InterruptedException e) {
                return;
            }
            sample();
        }
    }

    private synchronized void sample() {
        Peak p = now();
        int second = (int) ((System.nanoTime() - startNanos) / 1_000_000_000L);
        while (perSecond.size() <= second) {
            perSecond.add(Peak.ZERO);
        }
        perSecond.set(second, perSecond.get(second).max(p));
    }

    /** Maxima per second since {@link #reset()} (the last one may be a partial second). */
    synchronized List<Peak> perSecond() {
        sample();
        return new ArrayList<>(perSecond);
    }

    static Peak max(List<Peak> series, int from, int to) {
        Peak m = Peak.ZERO;
        for (int i = Math.max(0, from); i < Math.min(to, series.size()); i++) {
            m = m.max(series.get(i));
        }
        return m;
    }

    /** {@code h:l:d:p,h:l:d:p,...} (KiB), for the text protocol. */
    static String encode(List<Peak> series) {
        StringBuilder sb = new StringBuilder();
        for (Peak p : series) {
            sb.append(sb.length() == 0 ? "" : ",").append(p.encode());
        }
        return sb.toString();
    }

    static List<Peak> decode(String s) {
        List<Peak> l = new ArrayList<>();
        if (s != null && !s.isEmpty()) {
            for (String p : s.split(",")) {
                l.add(Peak.decode(p));
            }
        }
        return l;
    }
}
