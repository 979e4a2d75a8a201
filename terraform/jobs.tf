# Jobs: an SQS queue feeding the job-worker function, a dead-letter queue
# behind it, and the EventBridge schedule of cron-scheduler.

locals {
  # FIFO queue names must end in .fifo.
  queue_suffix = var.queue_fifo ? ".fifo" : ""
}

resource "aws_sqs_queue" "jobs_dlq" {
  name                        = "${local.name}-jobs-dlq${local.queue_suffix}"
  fifo_queue                  = var.queue_fifo ? true : null
  message_retention_seconds   = 1209600 # 14 days, the maximum: time to inspect and redrive
  sqs_managed_sse_enabled     = true
}

resource "aws_sqs_queue" "jobs" {
  name                       = "${local.name}-jobs${local.queue_suffix}"
  fifo_queue                 = var.queue_fifo ? true : null
  # Deduplication by the job's idempotency key, set by the queue adapter.
  content_based_deduplication = var.queue_fifo ? false : null
  # AWS's advice for Lambda sources: six times the function timeout, so a
  # batch being retried by Lambda is not handed to another instance.
  visibility_timeout_seconds = 6 * var.worker_timeout_seconds
  message_retention_seconds  = 345600 # 4 days
  receive_wait_time_seconds  = 20
  sqs_managed_sse_enabled    = true

  # A job failing job_max_attempts deliveries (a permanent failure is
  # reported failed too) moves to the dead-letter queue.
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.jobs_dlq.arn
    maxReceiveCount     = var.job_max_attempts
  })
}

resource "aws_sqs_queue_redrive_allow_policy" "jobs_dlq" {
  queue_url = aws_sqs_queue.jobs_dlq.id

  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [aws_sqs_queue.jobs.arn]
  })
}

resource "aws_lambda_event_source_mapping" "jobs" {
  event_source_arn = aws_sqs_queue.jobs.arn
  function_name    = aws_lambda_function.function["job-worker"].arn
  batch_size       = var.worker_batch_size
  # Only the failed records of a batch come back (handle_sqs_batch).
  function_response_types = ["ReportBatchItemFailures"]
  # Batching windows are for standard queues only.
  maximum_batching_window_in_seconds = var.queue_fifo ? null : 1

  scaling_config {
    maximum_concurrency = var.worker_max_instances
  }

  depends_on = [aws_iam_role_policy.function]
}

resource "aws_cloudwatch_event_rule" "cron" {
  name                = "${local.name}-cron"
  description         = "Ticks the MCP Platform scheduler."
  schedule_expression = var.schedule_expression
}

resource "aws_cloudwatch_event_target" "cron" {
  rule = aws_cloudwatch_event_rule.cron.name
  arn  = aws_lambda_function.function["cron-scheduler"].arn

  retry_policy {
    maximum_event_age_in_seconds = 300
    maximum_retry_attempts       = 2
  }
}

resource "aws_lambda_permission" "cron" {
  statement_id  = "AllowEventBridge"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.function["cron-scheduler"].function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.cron.arn
}

# A message in the dead-letter queue means a job gave up: worth an alarm.
resource "aws_cloudwatch_metric_alarm" "dlq" {
  alarm_name          = "${local.name}-jobs-dead-lettered"
  alarm_description   = "Jobs reached the dead-letter queue."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = aws_sqs_queue.jobs_dlq.name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
}
