/**
 * DMSG links over TCP with Netty. The pipeline, in {@link LinkEndpoint#initChannel}:
 * the first-bytes stage and {@code SslHandler} (TLS 1.3 with pinned keys, when
 * {@code LinkConfig.tls()} is set, docs/SECURITY.md §3; left out or removed for configured legacy
 * plaintext peers, §6) → the frame codec → the handler that drives
 * the link engine ({@link dev.dmsg.link.LinkDriver}); and {@link LinkEndpoint}, which listens and
 * connects.
 */
package dev.dmsg.link.netty;
