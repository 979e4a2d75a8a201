variable "region" {
  description = "AWS region to deploy into."
  type        = string
  default     = "us-east-1"
}

variable "environment" {
  description = "Environment name, used in resource names (e.g. prod, staging)."
  type        = string
  default     = "prod"
}

variable "name_prefix" {
  description = "Prefix of every resource name."
  type        = string
  default     = "mcp-platform"
}

variable "tags" {
  description = "Extra tags for every resource."
  type        = map(string)
  default     = {}
}

variable "artifacts_dir" {
  description = "Directory holding one <function>.zip per Lambda (a `bootstrap` executable inside), as built by the deploy steps."
  type        = string
  default     = "../dist/lambda"
}

variable "architecture" {
  description = "Lambda architecture the binaries were built for: arm64 (aarch64-unknown-linux-gnu) or x86_64."
  type        = string
  default     = "arm64"

  validation {
    condition     = contains(["arm64", "x86_64"], var.architecture)
    error_message = "architecture must be arm64 or x86_64."
  }
}

# --- secrets (stored in Secrets Manager, never in Lambda environment) -------

variable "database_url" {
  description = "mysql://user:password@host:3306/db of the RDS (or other MySQL 8) database."
  type        = string
  sensitive   = true
}

variable "redis_url" {
  description = "redis:// or rediss:// URL of ElastiCache; empty = no Redis (single-instance state only)."
  type        = string
  default     = ""
  sensitive   = true
}

variable "mongodb_url" {
  description = "mongodb:// URL of DocumentDB/MongoDB; empty = history in MySQL."
  type        = string
  default     = ""
  sensitive   = true
}

variable "openai_api_key" {
  description = "API key of an OpenAI-compatible provider; empty = the offline analyser only."
  type        = string
  default     = ""
  sensitive   = true
}

variable "secret_recovery_window_days" {
  description = "Days a deleted secret can still be restored (0 deletes at once)."
  type        = number
  default     = 7
}

# --- functions ----------------------------------------------------------------

variable "api_memory_mb" {
  description = "Memory of each API function."
  type        = number
  default     = 512
}

variable "worker_memory_mb" {
  description = "Memory of the job-worker function."
  type        = number
  default     = 1024
}

variable "worker_timeout_seconds" {
  description = "Longest a job batch may run; also each job's lease (JOB_LEASE_SECONDS). The queue's visibility timeout is six times this."
  type        = number
  default     = 120

  validation {
    condition     = var.worker_timeout_seconds >= 10 && var.worker_timeout_seconds <= 900
    error_message = "worker_timeout_seconds must be 10 to 900 (the Lambda maximum)."
  }
}

variable "worker_concurrency" {
  description = "Jobs one job-worker invocation runs at once (WORKER_CONCURRENCY)."
  type        = number
  default     = 4
}

variable "worker_max_instances" {
  description = "Most job-worker instances the SQS event source runs at once (2 to 1000)."
  type        = number
  default     = 10
}

variable "worker_batch_size" {
  description = "SQS messages per job-worker invocation (1 to 10)."
  type        = number
  default     = 10
}

variable "job_max_attempts" {
  description = "Deliveries of a job before SQS moves it to the dead-letter queue (the redrive policy's maxReceiveCount; JOB_MAX_ATTEMPTS)."
  type        = number
  default     = 5
}

variable "queue_fifo" {
  description = "FIFO queues. Off by default: the SQS adapter dedupes idempotency keys in the database (job_keys) and sends no message group id, so standard queues are what it expects."
  type        = bool
  default     = false
}

variable "schedule_expression" {
  description = "How often cron-scheduler ticks. The shortest periodic job is a minute long."
  type        = string
  default     = "rate(1 minute)"
}

variable "log_retention_days" {
  description = "Retention of the functions' CloudWatch log groups."
  type        = number
  default     = 30
}

variable "log_level" {
  description = "LOG_LEVEL of every function (error, warn, info, debug, or tracing directives)."
  type        = string
  default     = "info"
}

variable "cors_origins" {
  description = "Origins allowed to call the API from a browser (CORS_ORIGINS)."
  type        = list(string)
  default     = []
}

variable "subnet_ids" {
  description = "Private subnets for the functions when the database/cache are in a VPC; empty = no VPC."
  type        = list(string)
  default     = []
}

variable "security_group_ids" {
  description = "Security groups of the functions (with subnet_ids)."
  type        = list(string)
  default     = []
}
