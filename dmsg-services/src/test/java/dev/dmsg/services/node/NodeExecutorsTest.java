package dev.dmsg.services.node;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.concurrent.ExecutorService;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The node's threads: named after their pool, daemons, all stopped by close. */
@Timeout(10)
class NodeExecutorsTest {
    static String threadOf(ExecutorService e) throws Exception {
        return e.submit(() -> Thread.currentThread().getName() + (Thread.currentThread().isDaemon() ? " daemon" : ""))
            .get(5, TimeUnit.SECONDS);
    }

    @Test
    void eachPoolRunsOnItsNamedDaemonThreadsAndCloseStopsThemAll() throws Exception {
        NodeExecutors x = new NodeExecutors();
        ExecutorService raft = x.newThread("raft");
        assertThat(threadOf(x.mesh())).isEqualTo("mesh daemon");
        assertThat(threadOf(x.admin())).isEqualTo("admin daemon");
        assertThat(threadOf(x.shell())).isEqualTo("shell daemon");
        assertThat(threadOf(x.blkIo())).isEqualTo("blk-io daemon");
        assertThat(threadOf(raft)).isEqualTo("raft daemon");

        x.drainBlkIo();
        assertThat(x.blkIo().isTerminated()).as("drained: nothing was left").isTrue();
        x.close();
        for (ExecutorService e : new ExecutorService[] {x.mesh(), x.admin(), x.shell(), x.blkIo(), raft}) {
            assertThat(e.isShutdown()).isTrue();
        }
        assertThatThrownBy(() -> x.newThread("late")).isInstanceOf(IllegalStateException.class)
            .hasMessage("node closed: no thread late");
    }
}
