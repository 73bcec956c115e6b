"""Result handles: AsyncResult, EagerResult, ResultSet and GroupResult."""
