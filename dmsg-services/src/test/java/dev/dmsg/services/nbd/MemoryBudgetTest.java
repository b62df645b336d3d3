package dev.dmsg.services.nbd;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** {@link MemoryBudget} and {@link ConnectionCaps} alone: who gets bytes and slots, in which order. */
@Timeout(10)
class MemoryBudgetTest {
    final List<String> granted = new ArrayList<>();

    MemoryBudget.Waiter take(MemoryBudget b, String client, long bytes, String name) {
        return b.acquire(client, bytes, w -> granted.add(name));
    }

    @Test
    void grantsAtOnceWithinBothBoundsElseQueuesWithoutTakingAnything() {
        MemoryBudget b = new MemoryBudget(100, 60);
        assertThat(take(b, "a", 60, "a1")).isNull();
        assertThat(take(b, "a", 1, "a2")).as("a's share is used up").isNotNull();
        assertThat(take(b, "b", 40, "b1")).as("b has its own share").isNull();
        assertThat(take(b, "c", 1, "c1")).as("the total is used up").isNotNull();
        assertThat(b.usedBytes()).isEqualTo(100);
        assertThat(b.waits()).isEqualTo(2);
        assertThat(granted).isEmpty();
    }

    @Test
    void aClientOverItsShareIsPassedOverAndTheTotalIsFirstComeFirstServed() {
        MemoryBudget b = new MemoryBudget(100, 60);
        take(b, "a", 60, "a1");
        take(b, "b", 40, "b1");
        take(b, "a", 30, "a2");      // waits for a's share
        take(b, "c", 50, "c1");      // waits for the total
        take(b, "d", 30, "d1");      // behind c for the total, though 30 would fit after b goes
        b.release("b", 40);
        assertThat(granted).as("a2 passed over (a still holds 60); c1 first; d1 does not jump it").containsExactly();
        b.release("a", 60);
        assertThat(granted).containsExactly("a2", "c1");
        assertThat(b.usedBytes()).isEqualTo(80);
        assertThat(b.peakBytes()).isEqualTo(100);
        b.release("a", 30);
        assertThat(granted).containsExactly("a2", "c1", "d1");
    }

    @Test
    void aCancelledWaiterTakesNothingAndUnblocksTheQueue() {
        MemoryBudget b = new MemoryBudget(100, 100);
        take(b, "a", 90, "a1");
        MemoryBudget.Waiter big = take(b, "b", 50, "b1");
        take(b, "c", 10, "c1");
        assertThat(granted).isEmpty();
        assertThat(b.cancel(big)).isTrue();
        assertThat(granted).containsExactly("c1");
        assertThat(b.usedBytes()).isEqualTo(100);
    }

    @Test
    void mistakesAreRefusedNamingBothValues() {
        MemoryBudget b = new MemoryBudget(100, 60);
        assertThatThrownBy(() -> b.acquire("a", 61, w -> { }))
            .hasMessage("a request of 61 bytes can never fit the budget of 60 bytes per client");
        assertThatThrownBy(() -> b.release("a", 1))
            .hasMessage("memory budget: released 1 bytes for a but only 0 in all and 0 for it were taken");
        assertThatThrownBy(() -> new MemoryBudget(10, 20))
            .hasMessage("memory budget: need 1 <= per client <= total, not per client 20 and total 10");
    }

    @Test
    void connectionCapsCountPerClientAndInAll() {
        ConnectionCaps caps = new ConnectionCaps(3, 2);
        assertThat(caps.admit("a")).isNull();
        assertThat(caps.admit("a")).isNull();
        assertThat(caps.admit("a")).isEqualTo(ConnectionCaps.Refusal.PER_CLIENT);
        assertThat(caps.admit("b")).isNull();
        assertThat(caps.admit("c")).isEqualTo(ConnectionCaps.Refusal.TOTAL);
        caps.release("a");
        assertThat(caps.admit("c")).isNull();
        assertThat(caps.open()).isEqualTo(3);
        assertThatThrownBy(() -> caps.release("z"))
            .hasMessage("connection caps: released a slot of z, which holds none");
    }
}
