output "api_url" {
  description = "Base URL of the API (append /api/v1/...)."
  value       = aws_apigatewayv2_stage.default.invoke_url
}

output "function_names" {
  description = "Lambda function names by endpoint group / role."
  value       = { for fn, f in aws_lambda_function.function : fn => f.function_name }
}

output "jobs_queue_url" {
  description = "URL of the job queue (JOB_QUEUE_URL)."
  value       = aws_sqs_queue.jobs.url
}

output "jobs_dead_letter_queue_url" {
  description = "URL of the dead-letter queue."
  value       = aws_sqs_queue.jobs_dlq.url
}

output "secret_arn" {
  description = "ARN of the credentials secret (rotate values here)."
  value       = aws_secretsmanager_secret.app.arn
}
