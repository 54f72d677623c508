"""Every bound and timeout of Skewless, in one place.

Names carry their unit, most significant word first (``timeout_ms``, ``hint_window_ms_max``).
Each has a one-line reason. Relationships between limits are asserted at import time.
"""

# --- CQL native protocol -------------------------------------------------------------
cql_frame_body_bytes_max = 16 * 1024 * 1024  # Cassandra's native_transport_max_frame_size default
cql_streams_inflight_max = 1024  # per connection; beyond this we answer Overloaded
cql_connections_max = 1024  # per node; a driver opens 1-2 per host, cqlsh 2
cql_page_rows_max = 100_000  # a larger fetch_size is served in pages of this many rows
cql_batch_statements_max = 10_000  # bounds the memory of one BATCH
cql_prepared_statements_max = 10_000  # prepared cache entries per node (LRU beyond)
cql_ttl_s_max = 20 * 365 * 86400  # Cassandra's MAX_TTL (20 years); larger TTLs are refused
cql_type_nesting_max = 32  # type text nesting depth; bounds parse_type's recursion

# --- Coordinator -----------------------------------------------------------------------
write_timeout_ms = 2000  # Cassandra's write_request_timeout (2 s)
read_timeout_ms = 5000  # Cassandra's read_request_timeout (5 s)
coordinator_requests_inflight_max = 4096  # per node; more are answered Overloaded

# --- Internode messaging -----------------------------------------------------------------
internode_frame_bytes_max = 64 * 1024 * 1024  # one message; a mutation is bounded by the CQL frame
internode_queue_messages_max = 8192  # per peer outbound; full means backpressure
internode_reconnect_delay_ms_min = 50  # first reconnect attempt
internode_reconnect_delay_ms_max = 5000  # cap of the exponential backoff (full jitter)
internode_connect_timeout_ms = 2000  # a peer that does not accept in 2 s is treated as down

schema_agreement_wait_ms = 5000  # DDL answers once live peers hold the schema, or after this

# --- Failure detection and gossip ----------------------------------------------------------
gossip_interval_ms = 1000  # Cassandra gossips once a second
failure_detector_convict_ms = 4000  # no heartbeat for 4 s: down (≈ phi 8 at 1 s intervals)
tick_interval_ms = 50  # the node's timer resolution

# --- Hints ---------------------------------------------------------------------------------
hint_window_ms_max = 3 * 3600 * 1000  # Cassandra's max_hint_window (3 h)
hints_per_target_max = 1_000_000  # a hint log is bounded; beyond it repair is needed
hint_replay_batch_max = 128  # hints sent per replay round trip
hint_replay_interval_ms = 1000  # how often a node looks for targets that came back

# --- Storage -------------------------------------------------------------------------------
commitlog_periodic_sync_ms = 10000  # Cassandra's commitlog_sync_period (10 s)
gc_grace_seconds_default = 864000  # Cassandra's default (10 days)

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

assert write_timeout_ms < read_timeout_ms
assert read_timeout_ms < stress_request_timeout_s * 1000 < stress_drain_s_max * 1000
assert stress_value_bytes_max < cql_frame_body_bytes_max
assert internode_reconnect_delay_ms_min < internode_reconnect_delay_ms_max
assert tick_interval_ms < gossip_interval_ms < failure_detector_convict_ms

# --- Local clusters, node options and internode details (runtime, cli) ----------------------
internode_handshake_bytes_max = 4096  # the first frame only names a version, an id and an address
internode_message_expiry_ms = 60000  # a message queued a minute outlived every request timeout
cluster_start_wait_ms = 60000  # `skewless cluster start` gives every node a minute to accept CQL
cluster_stop_grace_ms = 10000  # SIGTERM, then SIGKILL if the node is still there after this
clock_drift_ppm_max_option = 100000  # --clock-drift-ppm beyond 10 % is a typo
num_tokens_max = 1536  # Cassandra refuses more vnodes per node than this
