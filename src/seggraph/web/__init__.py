"""HTTP pieces beside GraphQL: health checks and the offline GraphiQL page."""
