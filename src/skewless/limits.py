"""Every bound and timeout of Skewless, in one place.

Names carry their unit, most significant word first (``timeout_ms``, ``hint_window_ms_max``).
Each has a one-line reason. Relationships between limits are asserted at import time.
"""

# --- CQL native protocol -------------------------------------------------------------
cql_frame_body_bytes_max = 16 * 1024 * 1024  # Cassandra's native_transport_max_frame_size default
cql_streams_inflight_max = 1024  # per connection; beyond this we answer Overloaded
cql_requests_inflight_max = 2048  # per node, all connections; beyond it Overloaded, not a queue
cql_connections_max = 65_536  # the most native_transport_max_concurrent_connections may be
cql_page_rows_max = 100_000  # a larger fetch_size is served in pages of this many rows
cql_batch_statements_max = 10_000  # bounds the memory of one BATCH
cql_prepared_statements_max = 10_000  # prepared cache entries per node (LRU beyond)
cql_compiled_plans_max = 10_000  # compiled write plans per node (cql.compiled; oldest out)
cql_bind_markers_max = 65_535  # EXECUTE counts its values in a [short] (Cassandra's maximum)
cql_ttl_s_max = 20 * 365 * 86400  # Cassandra's MAX_TTL (20 years); larger TTLs are refused
cql_type_nesting_max = 32  # type text nesting depth; bounds parse_type's recursion
cql_key_bytes_max = 0xFFFF  # a partition key or clustering value: Cassandra's u16 length prefix


# --- CQL connection admission (runtime.admission) --------------------------------------------
cql_connections_default = 16_384  # native_transport_max_concurrent_connections: ~9 KB idle each
cql_connections_per_ip_default = 1024  # ..._per_ip: an app host's pools; one address not all
cql_idle_timeout_ms_default = 300_000  # native_transport_idle_timeout_in_ms: > 2x heartbeats
cql_idle_timeout_ms_max_option = 24 * 3600 * 1000  # beyond a day is a typo
cql_handshake_ms = 5000  # a connection not READY by then is closed (slowloris; auth: below)
cql_refusal_answer_wait_ms = 2000  # a refused connection's first request is answered, or closed
cql_refused_connections_pending_max = 256  # refused ones awaiting their answer; beyond: closed
cql_connection_write_buffer_bytes_max = 2 * 1024 * 1024  # answers a client has not read yet
cql_reply_bytes_estimate_initial = 64 * 1024  # until measured: 32 requests fill the bound
cql_reply_bytes_estimate_weight = 8  # the estimate moves 1/8 of the way to each answer's size
cql_dispatch_turn_ms = 10  # a loop turn's request starts, shared by the busy connections
cql_listen_backlog = 4096  # SYNs queued while the loop is busy (a flood must not drop ours)
cql_admission_log_interval_ms = 1000  # a refusal or close is logged once a second per kind
fd_reserve_count = 2048  # descriptors kept for peers (2 each), RocksDB files, logs, listeners
fd_soft_limit_max = 1_048_576  # the soft limit raised to when the hard one is unlimited

# --- Client authentication (node.auth) ----------------------------------------------------
auth_handshake_ms = 10_000  # a connection not authenticated by then is closed (holds a slot)
auth_credentials_validity_ms = 2000  # Cassandra's credentials_validity: a good check is reused
auth_credentials_cache_entries_max = 1000  # Cassandra's credentials_cache_max_entries
auth_roles_validity_ms = 2000  # Cassandra's roles_validity: a session's roles are reloaded after
auth_superuser_setup_delay_ms = 10_000  # Cassandra's SUPERUSER_SETUP_DELAY: see peers first
auth_superuser_setup_delay_ms_max_option = 3600 * 1000  # an hour: beyond, a typo
auth_bcrypt_log_rounds = 10  # Cassandra's auth_bcrypt_gensalt_log2_rounds default
auth_bcrypt_threads = 2  # bcrypt workers per node: logins may queue, the node's loop never does
auth_password_bytes_max = 1024  # a SASL PLAIN token longer than this is refused unread

# --- Coordinator -----------------------------------------------------------------------
write_timeout_ms = 2000  # Cassandra's write_request_timeout (2 s)
read_timeout_ms = 5000  # Cassandra's read_request_timeout (5 s)
truncate_timeout_ms = 60000  # Cassandra's truncate_request_timeout (60 s): every node must answer
coordinator_requests_inflight_max = 4096  # per node; more are answered Overloaded
counter_write_timeout_ms_default = 5000  # Cassandra's counter_write_request_timeout (5 s)
counter_write_timeout_ms_max_option = 60000  # beyond a minute a client has long given up
counter_leader_inflight_max = 1024  # increments a leader replicates at once; more: Overloaded
counter_leader_seen_max = 4096  # recent (coordinator, op id)s a leader remembers: duplicates once
request_timeout_ms = 10000  # Cassandra's request_timeout (10 s): other operations (DDL, roles)
client_request_deadline_slack_ms = 5000  # past its own timeout plus this, a request lost its reply
shutdown_requests_wait_ms = 5000  # SIGTERM: in-flight client requests get this long to finish
fatal_exit_wait_ms = 5000  # a failed node's shutdown taking longer than this ends in os._exit
range_read_timeout_ms = 10000  # Cassandra's range_request_timeout (10 s), per range-read round
scan_response_rows_max = 5000  # live rows one replica sends per range-read round
scan_response_bytes_max = 4 * 1024 * 1024  # encoded partitions per range-read response
index_candidates_max = 1000  # index candidates one replica sends per index-read round
index_build_partitions_per_tick = 500  # an index build step must not stall the node's loop

read_tombstones_warn = 1000  # Cassandra's tombstone_warn_threshold: the client gets a warning
read_tombstones_max = 100_000  # Cassandra's tombstone_failure_threshold: the replica refuses

# --- Internode messaging -----------------------------------------------------------------
internode_frame_bytes_max = 64 * 1024 * 1024  # one message; a mutation is bounded by the CQL frame
internode_batch_bytes_max = 1024 * 1024  # a frame gathers queued messages up to this (one MAC each)
internode_queue_messages_max = 8192  # per peer outbound; full means backpressure
internode_reconnect_delay_ms_min = 50  # first reconnect attempt
internode_reconnect_delay_ms_max = 5000  # cap of the exponential backoff (full jitter)
internode_connect_timeout_ms = 2000  # a peer that does not accept in 2 s is treated as down

schema_agreement_wait_ms = 5000  # DDL answers once live peers hold the schema, or after this

# --- Failure detection and gossip ----------------------------------------------------------
gossip_interval_ms = 1000  # Cassandra gossips once a second
phi_convict_threshold_default = 8.0  # cassandra.yaml's phi_convict_threshold (≈ 18 s at 1 s beats)
phi_convict_threshold_min = 5.0  # Cassandra refuses a phi_convict_threshold outside 5..16
phi_convict_threshold_max = 16.0
failure_detector_window_samples = 1000  # Cassandra's ArrivalWindow SAMPLE_SIZE
failure_detector_initial_interval_ms = 2 * gossip_interval_ms  # fd_initial_value_ms: err high
failure_detector_max_interval_ms = 2 * gossip_interval_ms  # fd_max_interval_ms: longer not learnt
failure_detector_min_interval_ms = gossip_interval_ms // 2  # closer beats: out of round, ignored
failure_detector_local_pause_ms_max = 5000  # max_local_pause_in_ms: after our own pause, no verdict
swim_probe_helpers_max = 3  # SWIM's k: peers asked to probe a suspect before it is convicted
swim_probe_timeout_ms = 1000  # helpers' acks must arrive within this (one round trip, ≪ 1 s)
shutdown_announce_wait_ms = 500  # a stopping node waits this long for its Shutdown to leave
tick_interval_ms = 50  # the node's timer resolution

# --- Topology changes and streaming (node.topology, node.streaming) -------------------------
ring_delay_ms = 2000  # Cassandra's RING_DELAY (30 s) shortened: gossip reaches all in one round
stream_chunk_bytes = 256 * 1024  # encoded partitions per stream chunk (one may overshoot)
stream_sessions_inflight_max = 4  # ranges a receiving node pulls at once
stream_retry_ms = 3000  # a stream request unanswered this long is asked again (resume point)
stream_source_silence_ms = 10000  # a down source silent this long: fail over or pause
stream_throughput_mib_s_max_option = 100000  # --stream-throughput-outbound beyond is a typo
token_allocation_rf_min = 3  # tokens balanced for RF 1..3 at least: the usual replication
topology_settle_ms = 5000  # a new node waits this long at most to hear the ring before joining
topology_retry_ms = 1000  # a refused or timed-out topology step is proposed again after this
topology_join_wait_ms_max = 600_000  # a joiner waits 10 min at most for another change to end

# --- Hints ---------------------------------------------------------------------------------
hint_window_ms_max = 3 * 3600 * 1000  # Cassandra's max_hint_window (3 h)
hints_per_target_max = 1_000_000  # a hint log is bounded; beyond it repair is needed
hint_replay_batch_max = 128  # hints sent per replay round trip
hint_replay_interval_ms = 1000  # how often a node looks for targets that came back

# --- Batches and the batchlog (LOGGED batches) ----------------------------------------------
batchlog_replay_delay_ms = 2 * write_timeout_ms  # Cassandra replays batches older than this
batchlog_replay_interval_ms = 1000  # how often a node looks for old batches (Cassandra: 10 s)
batchlog_replay_delay_ms_max_option = 24 * 3600 * 1000  # beyond a day is a typo
batchlog_replay_startup_delay_ms = 5000  # learn the ring by gossip first (Cassandra: RING_DELAY)
batchlog_entries_max = 100_000  # per node; a full batchlog refuses new LOGGED batches
batchlog_replays_inflight_max = 64  # batches one node replays at a time; the rest wait a round
batchlog_endpoints_max = 2  # Cassandra writes the batchlog to two live nodes, two racks
batch_size_bytes_warn = 5 * 1024  # Cassandra's batch_size_warn_threshold (5 KiB)
batch_size_bytes_fail = 50 * 1024  # batch_size_fail_threshold (50 KiB): "Batch too large"
batch_unlogged_partitions_warn = 10  # unlogged_batch_across_partitions_warn_threshold

# --- Storage -------------------------------------------------------------------------------
commitlog_periodic_sync_ms = 10000  # Cassandra's commitlog_sync_period (10 s)
min_free_space_per_drive_mb_default = 50  # Cassandra's min_free_space_per_drive default
disk_resume_margin_bytes = 2 * 1024 * 1024  # writes resume this far above the refusal: no flapping
storage_reopen_margin_bytes = 4 * 1024 * 1024  # a reopen also writes a MANIFEST, OPTIONS, LOG
disk_check_interval_ms = 200  # free space read this often: a burst between two is the reserve's
gc_grace_seconds_default = 864000  # Cassandra's default (10 days)

# --- Corrupt storage (storage.integrity, runtime.quarantine) ------------------------------
verify_stop_check_entries = 4096  # a verification pass looks whether to stop (shutdown) this often
kv_family_migration_batch_entries = 1024  # keys per atomic move splitting an old one-family store
rebuild_refill_batch_entries = 512  # entries per write when a rebuilt database gets its own state
storage_verdict_gossip_chars_max = 200  # a gossiped storage verdict: its state and a reason's start
storage_newest_buckets_count = 1 << 20  # newest-timestamp buckets (8 MB): few partitions share one
storage_high_water_step_ms = 1000  # the durable bound on stored timestamps moves in steps of this
storage_table_prefixes_cached_max = 4096  # tables whose key prefix is kept: memory bounded

# --- Repair (node.merkle, node.repair) -----------------------------------------------------
merkle_depth_max = 15  # 2^15 leaves per range at most, Cassandra's cap (8-byte hashes: 256 KiB)
merkle_top_depth = 8  # a replica sends its tree's top 2^8 nodes, then the leaves under unequal ones
repair_hash_partitions_per_step = 256  # a tree is built this many partitions at a time (~10 ms)
repair_hash_step_gap_ms = 2  # between two steps: the node serves its clients and peers meanwhile
repair_trees_cached_max = 64  # trees a replica keeps for their coordinators' second round
repair_tree_timeout_ms = 120000  # a replica hashing a large range gets two minutes to answer
repair_stream_timeout_ms = 60000  # one leaf fetch or one stream batch, answered within a minute
repair_leaves_per_round = 512  # differing leaves whose partitions are merged at once (memory)
repair_stream_bytes_max = 4 * 1024 * 1024  # encoded partitions per leaf fetch or stream message
repair_background_idle_ms = 10000  # background anti-entropy: a range's repair at most every 10 s
repair_background_bytes_per_s_max = 10**10  # the budget option; more is a typo
repair_commands_kept = 64  # finished repair commands whose status stays queryable

# --- Metrics ------------------------------------------------------------------------------
metrics_request_bytes_max = 8192  # a scrape's request head; longer is not a Prometheus scrape
metrics_request_timeout_ms = 5000  # a scraper that sends nothing for 5 s is dropped
admin_request_bytes_max = 65536  # an admin request's head and JSON body; nodetool sends less
admin_request_timeout_ms = 10000  # an admin client that sends nothing for 10 s is dropped
admin_partitions_scan_max = 1_000_000  # tablestats/histograms count at most this many partitions
latency_histogram_us_max = 3_600_000_000  # latencies above one hour are recorded as one hour
latency_pending_max = 4096  # latencies appended before being folded into the histogram
nodetool_timeout_ms = 600_000  # nodetool waits this long for a node's answer (compact is slow)
nodetool_poll_ms = 500  # between two status calls while nodetool follows a repair or a change
nodetool_follow_ms_max = 24 * 3600 * 1000  # nodetool stops following after a day (the node goes on)
# --- Tracing -------------------------------------------------------------------------------
trace_sessions_open_max = 1000  # per coordinator; beyond it a traced request runs untraced
trace_events_per_session_max = 1000  # a session's events (coordinator's plus replicas')
trace_replica_wait_ms = 500  # after the answer, replicas still answering get this long

# --- Tools -------------------------------------------------------------------------------------
stress_ops_max = 100_000_000  # operations of one `skewless stress` run, also of a --duration run
stress_run_s_max = 3600  # a stress run stops issuing after an hour; longer is a soak test
stress_drain_s_max = 15  # after a stop, requests in flight get this long (> the request timeout)
stress_request_timeout_s = 10  # the driver's default: the server answers its own timeouts first
stress_connect_timeout_s = 5  # a contact point that does not accept in 5 s is not serving
stress_concurrency_max = 1024  # requests in flight; the server's streams per connection
stress_value_bytes_max = 1024 * 1024  # one value; far below the CQL frame limit
stress_keys_default_max = 1_000_000  # --keys defaults to --ops, capped here
stress_ratio_weight_max = 1000  # a mix cycle (sum of weights) stays short
stress_error_kinds_max = 32  # distinct error kinds kept per operation; the rest count as other
stress_replication_factor_max = 32  # --replication-factor; more is a typo on a local cluster

# --- Clocks --------------------------------------------------------------------------------
clock_offset_ms_max_option = 24 * 3600 * 1000  # --clock-offset-ms beyond a day is a typo
clock_samples_per_peer_max = 64  # ping/pong samples kept per peer (the best round trip wins)
clock_sample_window_ms = 30000  # older samples no longer describe a peer's clock
clock_drift_ppm_max = 200  # two quartz clocks drift apart by at most this (error bound growth)
client_clock_samples_max = 64  # default timestamps kept per connection to estimate its clock
stamp_request_timeout_ms = 1000  # a fenced node waits this long for a peer's timestamp
stamp_ceiling_lease_ms = 1000  # the durable bound on issued stamps moves in steps of this
clock_read_bracket_us_max = 2_000  # a (mono, real, mono) read wider than this was preempted: retry
clock_read_attempts_max = 5  # bracketed reads tried before the narrowest is used as it is
clock_step_us_min = 20_000  # a raw clock jump beyond this between ticks is a step, not drift
clock_ping_interval_ms = 500  # each node pings each live peer's clock twice a second
busy_loops_max = 16  # `lab real --busy-loops`: more spinning processes than that is a typo
busy_loop_s_max = 900  # a busy loop ends by itself after this, should its parent die first
write_restamps_max = 3  # rounds a shadowed node-stamped write is stamped again above newer data

assert write_timeout_ms < read_timeout_ms <= range_read_timeout_ms
assert batch_size_bytes_warn < batch_size_bytes_fail
assert scan_response_bytes_max < internode_frame_bytes_max // 2  # one partition may overshoot
assert read_timeout_ms < stress_request_timeout_s * 1000 < stress_drain_s_max * 1000
assert stress_value_bytes_max < cql_frame_body_bytes_max
assert internode_reconnect_delay_ms_min < internode_reconnect_delay_ms_max
assert stream_chunk_bytes < internode_frame_bytes_max // 2  # one partition may overshoot
assert tick_interval_ms < gossip_interval_ms <= failure_detector_max_interval_ms
assert tick_interval_ms < swim_probe_timeout_ms
assert cql_connections_per_ip_default <= cql_connections_default <= cql_connections_max
assert cql_handshake_ms <= auth_handshake_ms
assert cql_connection_write_buffer_bytes_max >= 4 * cql_reply_bytes_estimate_initial
assert read_timeout_ms < shutdown_requests_wait_ms + client_request_deadline_slack_ms

# --- Local clusters, node options and internode details (runtime, cli) ----------------------
internode_handshake_bytes_max = 4096  # a handshake frame names a version, an id, an address, nonces
internode_handshake_timeout_ms = 2000  # an inbound peer silent this long mid-handshake is dropped
internode_refusals_logged_max = 4096  # (address, reason) pairs remembered to log a refusal once
internode_message_expiry_ms = 60000  # a message queued a minute outlived every request timeout
cluster_start_wait_ms = 60000  # `skewless cluster start` gives every node a minute to accept CQL
cluster_stop_grace_ms = 10000  # SIGTERM, then SIGKILL if the node is still there after this
clock_drift_ppm_max_option = 100000  # --clock-drift-ppm beyond 10 % is a typo
num_tokens_max = 1536  # Cassandra refuses more vnodes per node than this

# Cluster metadata log (node.metadata): schema and topology changes agreed by multi-Paxos.
metadata_round_timeout_ms = 1000  # a Paxos phase unanswered by a majority this long is retried
metadata_backoff_ms_max = 200  # a proposer that lost a ballot waits up to this (jittered) first
metadata_propose_timeout_ms = 5000  # a DDL not chosen within this answers WriteTimeout (CAS)
metadata_log_entries_kept = 1000  # chosen entries kept for peers' catch-up; older: a snapshot
metadata_pull_entries_max = 200  # entries per catch-up answer (a lagging node pulls again)

# Authorization (node.auth): permissions of roles, cached per node (issue 12).
permissions_validity_ms_default = 2000  # Cassandra's permissions_validity: a missed invalidation
permissions_validity_ms_max_option = 24 * 3600 * 1000  # beyond a day a grant is effectively stuck
permissions_cache_entries_max = 1000  # Cassandra's permissions_cache_max_entries
permissions_rows_max = 10000  # grants of one role read at once; more is a runaway script
# TLS (runtime.tls, security.certs): client_encryption_options and server_encryption_options.
tls_cert_validity_days = 3650  # `skewless certs`: a test/dev cluster's CA outlives its hardware
tls_first_byte_wait_ms = 10000  # a new connection silent this long is closed before any TLS
tls_handshake_timeout_ms = 10000  # a TLS handshake not done in this is abandoned (slowloris)
tls_refusal_log_interval_ms = 60000  # a refused host is warned about once a minute, then debug
tls_refusal_hosts_tracked_max = 1024  # hosts remembered for that; beyond, the memory is reset
auth_role_walk_roles_max = 100_000  # bounds a transitive role walk (a cycle cannot be granted)

# Fairness (issue 15): one request may not hold the node's event loop for long.
cql_expression_depth_max = 100  # AST nesting; the recursive evaluators stay far from the stack
cql_select_selectors_max = 1000  # selectors of one SELECT clause; a longer list is a runaway
cql_parse_inline_chars_max = 512  # a longer statement is parsed in slices (~3 ms at most here)
cql_parse_slice_ms = 2  # the parser's (or shape check's) turn on the loop before it yields
cql_parse_slice_tokens = 32  # tokens parsed between two looks at the clock (~0.2-0.5 ms)
cql_parse_slice_nodes = 2000  # AST nodes shape-checked between two looks at the clock
partition_keys_in_select_fail_threshold = 100  # Cassandra's guardrail (off there): IN keys read
in_select_cartesian_product_fail_threshold = 1000  # Cassandra's guardrail: clustering IN product
items_per_collection_fail_threshold = 2000  # Cassandra's guardrail (off there): one write's items
cql_statement_tokens_max = 32_768  # one statement's tokens: GC passes over its parse stay ~10 ms

# Lightweight transactions (node.paxos): Paxos per partition (issue 14).
cas_contention_timeout_ms_default = 1000  # cassandra.yaml 4.1/5.0 cas_contention_timeout: 1000ms
cas_contention_timeout_ms_max_option = 600_000  # a longer contention timeout outlives every client
paxos_backoff_ms_max = 100  # a refused proposer waits up to this, jittered (Cassandra v1: 0-100 ms)
paxos_ballot_lease_ms = 1000  # the durable ballot ceiling moves this far per write, not per ballot
paxos_round_timeout_ms = write_timeout_ms  # Cassandra waits write_request_timeout per Paxos round
paxos_recent_commits_kept = 16  # commit origins an acceptor keeps: a refused proposer's proof
paxos_purge_interval_ms = 10_000  # how often a node sweeps its Paxos state for purgeable entries
paxos_purge_batch_max = 100  # Paxos states one sweep step looks at (bounds a tick's work)
