/**
 * A linearizability checker, as Knossos and Porcupine do it (docs/QUORUM.md §8): record a
 * concurrent {@link dev.dmsg.testkit.linear.History} of operations, then let
 * {@link dev.dmsg.testkit.linear.LinearizabilityChecker} search, key by key, for an order of the
 * operations that a sequential {@link dev.dmsg.testkit.linear.Model} accepts and that respects
 * real time. {@link dev.dmsg.testkit.linear.HistoryFile} dumps a history as JSON lines and reads
 * it back, so a failure seen in a system test can be replayed in a unit test.
 */
package dev.dmsg.testkit.linear;
