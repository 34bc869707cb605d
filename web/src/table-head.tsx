/** A table's column headers; `actions` names a last column of buttons for screen readers only. */
export const TableHead = ({ columns, actions }: { columns: readonly string[]; actions?: string }) => (
  <thead>
    <tr>
      {columns.map((column) => (
        <th key={column} scope="col">
          {column}
        </th>
      ))}
      {actions && (
        <th scope="col">
          <span class="visually-hidden">{actions}</span>
        </th>
      )}
    </tr>
  </thead>
);
