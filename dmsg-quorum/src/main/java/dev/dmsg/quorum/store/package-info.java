/**
 * The replicated state machine of the quorum store (docs/QUORUM.md §2, §4): what every member
 * applies, in log order, and answers.
 *
 * <ul>
 *   <li>{@link dev.dmsg.quorum.store.KvState}: the deterministic core — the store (etcd's model)
 *       and the prepared batches with their key and prefix reservations; one method per log
 *       entry kind ({@link dev.dmsg.quorum.store.LogEntry}), each giving an
 *       {@link dev.dmsg.quorum.store.Outcome}.
 *   <li>{@link dev.dmsg.quorum.store.LogEntries} and {@link dev.dmsg.quorum.store.Outcomes}: the
 *       bytes of a log entry and of the state machine's answer (§4.1).
 *   <li>{@link dev.dmsg.quorum.store.KvStateMachine}: the Ratis adapter — applies, reads,
 *       snapshots, watches ({@link dev.dmsg.quorum.store.Watch}) and leadership events.
 *   <li>{@link dev.dmsg.quorum.store.LeaseKeeper}: the leader's clock for prepared batches whose
 *       initiator went silent.
 * </ul>
 *
 * Nothing here reads a clock or a random source while applying; time enters only through the
 * lease keeper, which acts by proposing log entries.
 */
package dev.dmsg.quorum.store;
