/**
 * The status page (docs/STATUS-PAGE.md): the mesh as a graph as one node sees it
 * ({@link dev.dmsg.services.page.MeshGraph}, built from status documents alone), gathered over the
 * mesh within bounds ({@link dev.dmsg.services.page.GraphSource}), served read-only over HTTP
 * ({@link dev.dmsg.services.page.StatusPageServer}, on the metrics listener's
 * {@link dev.dmsg.services.http.HttpListener}) and printed for Graphviz
 * ({@link dev.dmsg.services.page.Dot}, {@code dmsg status --dot}).
 *
 * <p>Above the node, never below it: it reads a running node through its status document and its
 * shell, and the node knows nothing of it.
 */
package dev.dmsg.services.page;
