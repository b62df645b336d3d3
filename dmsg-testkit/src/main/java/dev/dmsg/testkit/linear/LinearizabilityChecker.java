package dev.dmsg.testkit.linear;

import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.function.LongSupplier;

/**
 * Checks a history against a {@link Model} (docs/QUORUM.md §8): is there an order of its
 * operations, each placed between its invocation and its completion, that the model accepts?
 * Linearizability is local (Herlihy &amp; Wing's P-compositionality), so the history is split by
 * key and each key searched on its own, with Wing &amp; Gong's search and Lowe's memoisation as in
 * Porcupine (and two prunings of its own for unknown operations: {@code KeySearch}). Failed
 * operations are dropped; unknown ones may take effect at any time after their invocation, or
 * never.
 *
 * <p>The search is exponential in the worst case, so each key has a step budget and a time
 * budget; out of either, the key's verdict is {@link Verdict#GAVE_UP}, never a hang. Immutable;
 * {@link #check} may be called from any thread.
 *
 * <pre>{@code
 * new LinearizabilityChecker<>(new RegisterModel()).check(history).requireLinearizable();
 * }</pre>
 *
 * @param <S> the model's state
 */
public final class LinearizabilityChecker<S> {
    /** Steps per key by default: the memo cache holds at most one entry a step, so this bounds memory too. */
    public static final long DEFAULT_MAX_STEPS = 2_000_000;
    /** Time per key by default. */
    public static final Duration DEFAULT_TIME_BUDGET = Duration.ofSeconds(10);

    private final Model<S> model;
    private final long maxSteps;
    private final long budgetNanos;
    private final LongSupplier clock;

    /** A checker with the default budgets, timed by {@code System::nanoTime}. */
    public LinearizabilityChecker(Model<S> model) {
        this(model, DEFAULT_MAX_STEPS, DEFAULT_TIME_BUDGET.toNanos(), System::nanoTime);
    }

    private LinearizabilityChecker(Model<S> model, long maxSteps, long budgetNanos, LongSupplier clock) {
        this.model = Objects.requireNonNull(model, "model");
        this.maxSteps = maxSteps;
        this.budgetNanos = budgetNanos;
        this.clock = Objects.requireNonNull(clock, "clock");
    }

    /** This checker with at most {@code steps} search steps per key. */
    public LinearizabilityChecker<S> maxStepsPerKey(long steps) {
        if (steps < 1) {
            throw new IllegalArgumentException("maxStepsPerKey " + steps + " < 1");
        }
        return new LinearizabilityChecker<>(model, steps, budgetNanos, clock);
    }

    /** This checker with at most {@code budget} of {@code clock}'s time per key (read every few thousand steps). */
    public LinearizabilityChecker<S> timeBudgetPerKey(Duration budget, LongSupplier clock) {
        if (budget.isNegative() || budget.isZero()) {
            throw new IllegalArgumentException("timeBudgetPerKey " + budget + " not positive");
        }
        return new LinearizabilityChecker<>(model, maxSteps, budget.toNanos(), clock);
    }

    /** Checks {@code history} as recorded so far. */
    public CheckResult check(History history) {
        return check(history.operations());
    }

    /** Checks {@code operations}, of any number of keys. */
    public CheckResult check(List<Operation> operations) {
        Map<String, List<Operation>> byKey = new LinkedHashMap<>();
        for (Operation o : operations) {
            if (o.outcome() == Operation.Outcome.FAIL) {
                continue; // it certainly did not happen
            }
            if (o.outcome() == Operation.Outcome.UNKNOWN && model.readOnly(o.op())) {
                continue; // an unknown read constrains nothing
            }
            byKey.computeIfAbsent(o.op().key(), k -> new ArrayList<>()).add(o);
        }
        List<KeyResult> results = new ArrayList<>(byKey.size());
        for (Map.Entry<String, List<Operation>> e : byKey.entrySet()) {
            results.add(new KeySearch<>(model, e.getKey(), e.getValue(), maxSteps, budgetNanos, clock).run());
        }
        return new CheckResult(results, operations.size());
    }
}
